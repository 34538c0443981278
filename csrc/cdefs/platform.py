"""mbedtls/platform_util.h: the one platform call the bindings need."""

INCLUDES = """
#include "mbedtls/platform_util.h"
"""

TYPES = """
"""

FUNCTIONS = """
void mbedtls_platform_zeroize(void *buf, size_t len);
"""
