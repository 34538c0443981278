"""The wire layer: DTLS record parsing and the impairment rule language.

Pure Python: imports nothing from ``mbedtls_py`` outside ``wire`` and never
loads the compiled extension, so the UDP proxy and offline tools can use it.
"""
