"""Semantic inpainting with a trained GAN (Yeh et al. 2016, as presented in the slides).

    masks      make_mask / parse_spec / get_mask / load_mask / save_mask / check_mask / training_masks;
               importance_weights (Yeh's W)
    objective  contextual_loss ||W (G(z) - x)||_1, perceptual_loss log(1 - D) or -log D, objective L(z)
    encoder    Encoder E(x * M, M) -> z, trained once per generator (amortised inversion); neighbour_codes: the
               codes of the nearest training images, read whole: the search's starts
    search     inpaint(): Adam on z for all images and restarts at once, from the encoder's codes (or random
               ones), the settings chosen from the mask
    blend      compose (M x + (1 - M) G(z)), poisson_blend (seamless fill)
    metrics    hole_l1, hole_psnr, and the copy-based baselines mean_fill, nearest_fill
    evaluate   accuracy and realism: hole PSNR / L1, KID, class kept (Judge), the baselines, tables
    figure     inpainting_figure, show_masked, pareto_figure (imported from minigan.inpaint.figure; matplotlib)

Derivations and measured results: docs/inpainting.md.
"""
from .blend import compose, poisson_blend
from .encoder import Encoder, encoder_for, train_encoder
from .masks import KINDS, check_mask, get_mask, importance_weights, load_mask, make_mask, parse_spec, save_mask
from .metrics import hole_l1, hole_psnr, mean_fill, nearest_fill
from .objective import PERCEPTUAL, contextual_loss, objective, perceptual_loss
from .search import COMBINES, CONSTRAINTS, STARTS, inpaint, project, settings

__all__ = ["COMBINES", "CONSTRAINTS", "Encoder", "KINDS", "PERCEPTUAL", "STARTS", "check_mask", "compose",
           "contextual_loss", "encoder_for", "get_mask", "hole_l1", "hole_psnr", "importance_weights", "inpaint",
           "load_mask", "make_mask", "mean_fill", "nearest_fill", "objective", "parse_spec", "perceptual_loss",
           "poisson_blend", "project", "save_mask", "settings", "train_encoder"]
