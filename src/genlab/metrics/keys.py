"""Public result keys: the names under which metric values appear in result dicts and JSON logs.

Code that writes or reads metric results uses these constants, never string literals, so a renamed
key breaks loudly at import time instead of silently producing a missing column.
"""

from __future__ import annotations

#: Fréchet Inception Distance (Heusel et al. 2017).
FID = "fid"
#: FID extrapolated to infinitely many samples (Chong & Forsyth 2020).
FID_INFINITY = "fid_infinity"

#: Kernel Inception Distance: mean and standard deviation over subsets (Bińkowski et al. 2018).
KID_MEAN = "kid_mean"
KID_STD = "kid_std"

#: Inception Score: mean and standard deviation over splits (Salimans et al. 2016).
IS_MEAN = "is_mean"
IS_STD = "is_std"

#: Improved precision and recall (Kynkäänniemi et al. 2019).
PRECISION = "precision"
RECALL = "recall"
#: Density and coverage (Naeem et al. 2020).
DENSITY = "density"
COVERAGE = "coverage"

#: Reconstruction error of an autoencoder, in [0, 1] pixel units.
MSE = "mse"
L2 = "l2"
PSNR = "psnr"

#: Number of classes that are the predicted class of enough samples (see `genlab.metrics.modes`).
MODES_COVERED = "modes_covered"
#: KL(predicted class histogram ‖ uniform) in nats: 0 for a perfectly even spread, log K for one.
MODE_KL_UNIFORM = "mode_kl_uniform"
#: Mean over samples of the largest class probability: how sure the classifier is.
MODE_CONFIDENCE = "mode_confidence"
#: Number of samples predicted as each class, a list of ``num_classes`` ints.
MODE_COUNTS = "mode_counts"

#: CMMD: 1000 · MMD² between L2-normalised CLIP embeddings (Jayasumana et al. 2024).
CMMD = "cmmd"

#: Suffixes for the bounds of a bootstrap confidence interval, e.g. ``FID + CI_LOW_SUFFIX``.
CI_LOW_SUFFIX = "_ci_low"
CI_HIGH_SUFFIX = "_ci_high"

#: Classifier two-sample test (Lopez-Paz & Oquab 2017): held-out accuracy of a discriminator
#: between A and B (0.5: indistinguishable), and the one-sided binomial p-value of A = B.
C2ST = "c2st"
C2ST_P_VALUE = "c2st_p_value"
#: W_1(A, B) by a gradient-penalty critic fitted on one half, scored on the other.
CRITIC_W1 = "critic_w1"
#: Fraction of B closer to A (the training set) than unseen real images are (Meehan et al. 2020),
#: the threshold distance, Meehan et al.'s Z_U, and the closest pairs (B index, A index, distance).
MEMORIZATION = "memorization"
MEMORIZATION_THRESHOLD = "memorization_threshold"
MEMORIZATION_Z = "memorization_z"
MEMORIZATION_PAIRS = "memorization_pairs"
#: Vendi score of B (Friedman & Dieng 2023): the effective number of distinct images.
VENDI = "vendi"
