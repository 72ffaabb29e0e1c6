// The functions user SQL may call in the sandbox (sql-guard.ts), by their pg_catalog name in PostgreSQL 17.
// An allowlist, not a denylist: PostgreSQL has ~2,700 functions and some run SQL text of their own
// (ts_stat, ts_rewrite, query_to_xml…), reach files, large objects, settings, other sessions or other
// databases; one nobody listed here is refused. Picked from pg_proc for what an analyst writes.
// The parser also turns SQL-standard syntax into calls of these names (EXTRACT → extract, AT TIME ZONE →
// timezone, TRIM → btrim/ltrim/rtrim, SIMILAR TO → similar_to_escape, …): keep those.

const GROUPS: Record<string, string[]> = {
  // Aggregates, including ordered-set ones (WITHIN GROUP) and statistics.
  aggregates: [
    'count', 'sum', 'avg', 'min', 'max', 'any_value', 'array_agg', 'string_agg', 'bool_and', 'bool_or', 'every',
    'bit_and', 'bit_or', 'bit_xor', 'json_agg', 'json_agg_strict', 'json_object_agg', 'json_object_agg_strict',
    'json_object_agg_unique', 'json_object_agg_unique_strict', 'jsonb_agg', 'jsonb_agg_strict', 'jsonb_object_agg',
    'jsonb_object_agg_strict', 'jsonb_object_agg_unique', 'jsonb_object_agg_unique_strict', 'range_agg',
    'range_intersect_agg', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr',
    'covar_pop', 'covar_samp', 'regr_avgx', 'regr_avgy', 'regr_count', 'regr_intercept', 'regr_r2', 'regr_slope',
    'regr_sxx', 'regr_sxy', 'regr_syy', 'mode', 'percentile_cont', 'percentile_disc',
  ],
  // Window functions (rank… are also hypothetical-set aggregates).
  window: ['row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value'],
  // Date and time; extract, timezone and overlaps are what EXTRACT, AT TIME ZONE and OVERLAPS parse into.
  dateTime: [
    'age', 'clock_timestamp', 'date_add', 'date_bin', 'date_part', 'date_subtract', 'date_trunc', 'extract', 'isfinite',
    'justify_days', 'justify_hours', 'justify_interval', 'make_date', 'make_interval', 'make_time', 'make_timestamp',
    'make_timestamptz', 'now', 'overlaps', 'statement_timestamp', 'timeofday', 'timezone', 'transaction_timestamp',
  ],
  // Strings and bytes; like_escape and similar_to_escape are what LIKE … ESCAPE and SIMILAR TO parse into.
  string: [
    'ascii', 'bit_count', 'bit_length', 'btrim', 'char_length', 'character_length', 'chr', 'concat', 'concat_ws',
    'convert', 'convert_from', 'convert_to', 'decode', 'encode', 'get_bit', 'get_byte', 'initcap', 'is_normalized',
    'left', 'length', 'like_escape', 'lower', 'lpad', 'ltrim', 'md5', 'normalize', 'octet_length', 'overlay',
    'position', 'quote_ident', 'quote_literal', 'quote_nullable', 'regexp_count', 'regexp_instr', 'regexp_like',
    'regexp_match', 'regexp_matches', 'regexp_replace', 'regexp_split_to_array', 'regexp_split_to_table',
    'regexp_substr', 'repeat', 'replace', 'reverse', 'right', 'rpad', 'rtrim', 'sha224', 'sha256', 'sha384', 'sha512',
    'similar_to_escape', 'split_part', 'starts_with', 'string_to_array', 'string_to_table', 'strpos', 'substr',
    'substring', 'to_ascii', 'to_bin', 'to_hex', 'to_oct', 'translate', 'unicode_assigned', 'unistr', 'upper',
  ],
  // Numbers.
  math: [
    'abs', 'acos', 'acosd', 'acosh', 'asin', 'asind', 'asinh', 'atan', 'atan2', 'atan2d', 'atand', 'atanh', 'cbrt',
    'ceil', 'ceiling', 'cos', 'cosd', 'cosh', 'cot', 'cotd', 'degrees', 'div', 'erf', 'erfc', 'exp', 'factorial',
    'floor', 'gcd', 'lcm', 'ln', 'log', 'log10', 'min_scale', 'mod', 'pi', 'pow', 'power', 'radians', 'random',
    'random_normal', 'round', 'scale', 'sign', 'sin', 'sind', 'sinh', 'sqrt', 'tan', 'tand', 'tanh', 'trim_scale',
    'trunc', 'width_bucket',
  ],
  // JSON and jsonb, including SQL/JSON path queries.
  json: [
    'array_to_json', 'row_to_json', 'to_json', 'to_jsonb', 'json_array_elements', 'json_array_elements_text',
    'json_array_length', 'json_build_array', 'json_build_object', 'json_each', 'json_each_text', 'json_extract_path',
    'json_extract_path_text', 'json_object', 'json_object_keys', 'json_populate_record', 'json_populate_recordset',
    'json_strip_nulls', 'json_to_record', 'json_to_recordset', 'json_typeof', 'jsonb_array_elements',
    'jsonb_array_elements_text', 'jsonb_array_length', 'jsonb_build_array', 'jsonb_build_object', 'jsonb_each',
    'jsonb_each_text', 'jsonb_extract_path', 'jsonb_extract_path_text', 'jsonb_insert', 'jsonb_object',
    'jsonb_object_keys', 'jsonb_path_exists', 'jsonb_path_exists_tz', 'jsonb_path_match', 'jsonb_path_match_tz',
    'jsonb_path_query', 'jsonb_path_query_array', 'jsonb_path_query_array_tz', 'jsonb_path_query_first',
    'jsonb_path_query_first_tz', 'jsonb_path_query_tz', 'jsonb_populate_record', 'jsonb_populate_record_valid',
    'jsonb_populate_recordset', 'jsonb_pretty', 'jsonb_set', 'jsonb_set_lax', 'jsonb_strip_nulls', 'jsonb_to_record',
    'jsonb_to_recordset', 'jsonb_typeof',
  ],
  // Arrays and set-returning generators.
  array: [
    'array_append', 'array_cat', 'array_dims', 'array_fill', 'array_length', 'array_lower', 'array_ndims',
    'array_position', 'array_positions', 'array_prepend', 'array_remove', 'array_replace', 'array_sample',
    'array_shuffle', 'array_to_string', 'array_upper', 'cardinality', 'generate_series', 'generate_subscripts',
    'trim_array', 'unnest',
  ],
  // Full-text search on values; not ts_stat nor ts_rewrite, which take query text and run it.
  fullTextSearch: [
    'to_tsvector', 'to_tsquery', 'plainto_tsquery', 'phraseto_tsquery', 'websearch_to_tsquery', 'json_to_tsvector',
    'jsonb_to_tsvector', 'array_to_tsvector', 'tsvector_to_array', 'ts_rank', 'ts_rank_cd', 'ts_headline', 'ts_delete',
    'ts_filter', 'setweight', 'strip', 'numnode', 'querytree', 'tsquery_phrase',
  ],
  // Ranges, for date and number intervals.
  range: [
    'int4range', 'int8range', 'numrange', 'daterange', 'tsrange', 'tstzrange', 'int4multirange', 'int8multirange',
    'nummultirange', 'datemultirange', 'tsmultirange', 'tstzmultirange', 'multirange', 'lower', 'upper', 'isempty',
    'lower_inc', 'upper_inc', 'lower_inf', 'upper_inf', 'range_merge',
  ],
  // Formatting and function-style casts (`int4(x)`, TREAT … AS).
  typeAndFormat: [
    'to_char', 'to_number', 'to_date', 'to_timestamp', 'format', 'bool', 'int2', 'int4', 'int8', 'float4', 'float8',
    'numeric', 'text', 'varchar', 'bpchar', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval',
  ],
  // Network addresses, as event data holds them.
  network: ['host', 'hostmask', 'masklen', 'netmask', 'network', 'broadcast', 'family', 'abbrev', 'set_masklen', 'inet_merge', 'inet_same_family'],
  // Everything else. current_setting reads what the pg_settings view shows the role anyway (superuser-only
  // settings stay refused by PostgreSQL); pg_sleep is bounded by the statement timeout like any slow query.
  misc: [
    'num_nulls', 'num_nonnulls', 'gen_random_uuid', 'uuid_extract_timestamp', 'uuid_extract_version', 'pg_typeof',
    'pg_collation_for', 'system_user', 'current_database', 'current_schema', 'current_setting', 'pg_backend_pid', 'pg_sleep',
  ],
};

/** Every allowed function name (as the parser spells it: lower case unless quoted). */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set(Object.values(GROUPS).flat());

/** The one schema a function name may be qualified with. */
export const FUNCTION_SCHEMA = 'pg_catalog';

export const ALLOWED_FUNCTIONS_HINT =
  'Only analyst functions are allowed here: aggregates, window, date/time, string, math, JSON, array, range and full-text search functions and casts';
