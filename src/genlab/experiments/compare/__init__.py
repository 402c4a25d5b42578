"""The lecture's models compared on MNIST under the same wall-clock budget.

Eight models — the VAE, the minimax GAN, the non-saturating GAN, WGAN with weight clipping at the
paper's c = 0.01 and at the lecture's c = 0.001, WGAN-GP, SN-GAN, and the non-saturating GAN on
only 100 training images (the memorising contestant) — each with its paper's loss and optimiser
(the `genlab.training.config.PRESETS`, with their MNIST settings) on the same DCGAN-style
networks, are trained for the same minutes of training time, for several seeds. Each run is
evaluated during training (classifier-FID every ``eval_seconds`` of training time, for the
metric-vs-time curves) and at the end:

- classifier features (the shipped MNIST classifier, d = 128, N = ``n``): FID and KID with
  bootstrap 95 % intervals, precision/recall (k = 3), density/coverage (k = 5), digits covered;
- Inception features (d = 2048, N = ``inception_n``): FID and KID. FID at N below d is biased
  upwards; every model has the same N, so the ranking is fair, the absolute values are not
  comparable with published ones (those use N = 50 000);
- the learned judges on the classifier features: the classifier two-sample test, a held-out
  critic's W1, the Vendi score; and the memorised fraction against the run's own training images;
- for the VAE: reconstruction error on held-out digits.

Across seeds, each metric is reported as the mean with a 95 % Student-t interval.

The WGAN paper (Arjovsky et al. 2017, §4.2, figures 3–4) claims the critic's estimate
E_P f − E_Q f tracks sample quality. `wasserstein_fid_correlation` measures it: the Spearman rank
correlation, over the evaluations of a run, between the critic's estimate (averaged over the
logged steps since the previous evaluation) and the classifier-FID.

Runs that finished are kept: calling the comparison again with the same folder skips them, and an
interrupted run resumes from its checkpoint with the time it had already used.
"""
