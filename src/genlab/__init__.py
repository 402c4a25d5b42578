"""genlab: train deep generative models of images and measure how good the generated images are."""

from genlab.errors import GenlabError

__version__ = "0.1.0"
__all__ = ["GenlabError", "__version__"]
