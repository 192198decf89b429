#ifndef SLUICE_SIMDJSON_H
#define SLUICE_SIMDJSON_H
// A small C API over simdjson's DOM parser for inbound findings. A parse yields simdjson's
// tape (one 64-bit word per structural element, documented in simdjson's doc/tape.md) and its
// string buffer; Swift walks the tape directly, with no call per node. Both stay valid until the
// next parse on the same parser.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sluice_json_parser sluice_json_parser;

/// Why a document was rejected. Stable values: they become dead-letter reasons.
typedef enum {
    SLUICE_JSON_OK = 0,
    SLUICE_JSON_TOO_LARGE = 1,   ///< larger than the parser's max_bytes
    SLUICE_JSON_TOO_DEEP = 2,    ///< nesting beyond max_depth
    SLUICE_JSON_INVALID_UTF8 = 3,
    SLUICE_JSON_SYNTAX = 4,      ///< not JSON
    SLUICE_JSON_EMPTY = 5,       ///< no JSON value at all
    SLUICE_JSON_NO_MEMORY = 6,
} sluice_json_status;

typedef struct {
    const uint64_t *tape;
    const uint8_t *strings;
    size_t tape_length;          ///< number of words on the tape
} sluice_json_tape;

/// A parser accepting documents up to `max_bytes` and `max_depth` levels. NULL on allocation failure.
sluice_json_parser *sluice_json_parser_new(size_t max_bytes, size_t max_depth);
void sluice_json_parser_free(sluice_json_parser *parser);

/// Parses `length` bytes (copied into padded memory when needed). On success fills `out`.
sluice_json_status sluice_json_parse(sluice_json_parser *parser, const char *bytes, size_t length,
                                     sluice_json_tape *out);

/// Like `sluice_json_parse`, but without copying the input when that is safe: when the caller
/// promises `padded` (SIMDJSON_PADDING readable bytes after the document, as a buffer with spare
/// capacity has), or when those bytes lie in the same memory page as the document's last byte
/// (simdjson only reads them, and a page is mapped whole). Build with
/// -DSLUICE_SIMDJSON_ALWAYS_COPY for memcheck/AddressSanitizer runs, which flag such reads.
sluice_json_status sluice_json_parse_in_place(sluice_json_parser *parser, const char *bytes, size_t length,
                                              int padded, sluice_json_tape *out);

/// Bytes simdjson may read after a document (SIMDJSON_PADDING).
size_t sluice_json_padding(void);

/// simdjson's own description of the last error on this parser (for logs and dead-letter headers).
const char *sluice_json_last_error(const sluice_json_parser *parser);

#ifdef __cplusplus
}
#endif
#endif
