"""csrc/compat.h: 3.6 spellings on older libraries, and the feature flags
(``MPY_HAS_*``: 1 when this variant's Mbed TLS has the feature).  The Python
layer checks a flag with ``mbedtls_py.bindings.features.require`` and raises
``NotAvailableError`` when it is 0."""

INCLUDES = """
#include "compat.h"
"""

TYPES = """
#define MPY_HAS_KEY_EXPORT ...
#define MPY_HAS_MAX_IN_RECORD_PAYLOAD ...
#define MPY_HAS_GET_OWN_CID ...
#define MPY_HAS_SNI ...
#define MPY_HAS_MS_TIME ...
"""

FUNCTIONS = ""
