"""psa/crypto.h: initialisation (error codes come from the header scan)."""

INCLUDES = """
#include "psa/crypto.h"
"""

TYPES = """
typedef int32_t psa_status_t;
"""

FUNCTIONS = """
psa_status_t psa_crypto_init(void);
"""
