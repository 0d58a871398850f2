"""Adapters that put wsframe's connection inside other servers; each module imports its server lazily.

- :mod:`wsframe.integrations.uvicorn`: ``uvicorn app:app --ws wsframe.integrations.uvicorn:WebSocketProtocol``
"""
