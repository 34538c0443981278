"""mbedtls/debug.h; the Python side of the debug callback."""

INCLUDES = """
#include "mbedtls/debug.h"
"""

TYPES = """
"""

FUNCTIONS = """
void mbedtls_debug_set_threshold(int threshold);

extern "Python" void _mpy_debug_to_logging(void *ctx, int level, const char *file,
                                           int line, const char *msg);
"""
