"""A NUL (U+0000) in any path or query parameter, on PostgreSQL: refused, never a 500.

The test and its PostgreSQL binding are shared: `slm_shared.testing.nul_parameters`.
"""

from slm_shared.testing.nul_parameters import database_url, test_a_nul_in_any_path_or_query_parameter_is_refused

__all__ = ["database_url", "test_a_nul_in_any_path_or_query_parameter_is_refused"]
