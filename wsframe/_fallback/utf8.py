"""TODO"""
class Utf8Validator: pass
def validate_utf8(data): raise NotImplementedError
