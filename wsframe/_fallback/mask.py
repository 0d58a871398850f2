"""TODO"""
def mask(data, key, phase=0): raise NotImplementedError
def mask_inplace(buffer, key, phase=0): raise NotImplementedError
