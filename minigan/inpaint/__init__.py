"""Semantic inpainting with a trained GAN (Yeh et al. 2016, as presented in the slides).

    masks      make_mask / load_mask / save_mask / check_mask; importance_weights (Yeh's W)
    objective  contextual_loss ||W (G(z) - x)||_1, perceptual_loss log(1 - D) or -log D, objective L(z)
    search     inpaint(): Adam on z for all images and restarts at once, z kept in the prior's support
    blend      compose (M x + (1 - M) G(z)), poisson_blend (seamless fill)
    metrics    hole_l1, hole_psnr, and the baselines mean_fill, nearest_fill
    figure     inpainting_figure, show_masked (imported from minigan.inpaint.figure; they need matplotlib)

Derivations and measured results: docs/inpainting.md.
"""
from .blend import compose, poisson_blend
from .masks import KINDS, check_mask, get_mask, importance_weights, load_mask, make_mask, save_mask
from .metrics import hole_l1, hole_psnr, mean_fill, nearest_fill
from .objective import PERCEPTUAL, contextual_loss, objective, perceptual_loss
from .search import COMBINES, CONSTRAINTS, DEFAULTS, inpaint, project

__all__ = ["COMBINES", "CONSTRAINTS", "DEFAULTS", "KINDS", "PERCEPTUAL", "check_mask", "compose", "contextual_loss", "get_mask",
           "hole_l1", "hole_psnr", "importance_weights", "inpaint", "load_mask", "make_mask", "mean_fill",
           "nearest_fill", "objective", "perceptual_loss", "poisson_blend", "project", "save_mask"]
