"""Classical l0-gradient solvers: Region Fusion (Nguyen & Brown 2015) and
L0 smoothing (Xu et al. 2011), compiled with numba."""

from deepprior.regularizers.l0.l0_smooth import l0_smooth, l0_smooth_energy, l0_smooth_reference
from deepprior.regularizers.l0.region_fusion import region_fusion, region_fusion_energy

__all__ = ["region_fusion", "region_fusion_energy", "l0_smooth", "l0_smooth_energy", "l0_smooth_reference"]
