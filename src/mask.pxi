# Masking: see mask.h for the kernels.
