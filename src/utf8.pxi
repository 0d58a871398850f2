# UTF-8 validation: see utf8.h for the kernels.
