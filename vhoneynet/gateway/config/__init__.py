"""The gateway's configuration: what its config disk holds, computed from a topology alone.

Pure: these modules render text and compute data; none imports a backend or `gateway.live`.
"""
