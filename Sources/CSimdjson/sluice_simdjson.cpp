#include "sluice_simdjson.h"
#include <simdjson.h>
#include <new>
#include <cstdlib>
#include <cstring>

struct sluice_json_parser {
    simdjson::dom::parser parser;
    simdjson::error_code last = simdjson::SUCCESS;
    explicit sluice_json_parser(size_t max_bytes) : parser(max_bytes) {}
};

extern "C" sluice_json_parser *sluice_json_parser_new(size_t max_bytes, size_t max_depth) {
    auto *p = new (std::nothrow) sluice_json_parser(max_bytes);
    if (!p) return nullptr;
    // Allocate up front for typical findings; the parser grows up to max_bytes on demand.
    size_t initial = max_bytes < 64 * 1024 ? max_bytes : 64 * 1024;
    if (p->parser.allocate(initial, max_depth) != simdjson::SUCCESS) { delete p; return nullptr; }
    return p;
}

extern "C" void sluice_json_parser_free(sluice_json_parser *parser) { delete parser; }

static sluice_json_status map_error(simdjson::error_code e) {
    switch (e) {
    case simdjson::SUCCESS: return SLUICE_JSON_OK;
    case simdjson::CAPACITY: return SLUICE_JSON_TOO_LARGE;
    case simdjson::DEPTH_ERROR: return SLUICE_JSON_TOO_DEEP;
    case simdjson::UTF8_ERROR: return SLUICE_JSON_INVALID_UTF8;
    case simdjson::EMPTY: return SLUICE_JSON_EMPTY;
    case simdjson::MEMALLOC: return SLUICE_JSON_NO_MEMORY;
    default: return SLUICE_JSON_SYNTAX;
    }
}

static sluice_json_status parse(sluice_json_parser *p, const char *bytes, size_t length, bool copy,
                                 sluice_json_tape *out) {
    if (length > p->parser.max_capacity()) { p->last = simdjson::CAPACITY; return SLUICE_JSON_TOO_LARGE; }
    if (length == 0 || bytes == nullptr) { p->last = simdjson::EMPTY; return SLUICE_JSON_EMPTY; }
    simdjson::dom::element root;
    // realloc_if_needed = copy: simdjson then copies the input into its padded buffer.
    auto error = p->parser.parse(reinterpret_cast<const uint8_t *>(bytes), length, copy).get(root);
    p->last = error;
    if (error) return map_error(error);
    const simdjson::dom::document &doc = p->parser.doc;
    out->tape = doc.tape.get();
    out->strings = doc.string_buf.get();
    // The root word's payload is the index of the final root word.
    out->tape_length = static_cast<size_t>(out->tape[0] & 0xFFFFFFFFFFFFFFULL) + 1;
    return SLUICE_JSON_OK;
}

extern "C" sluice_json_status sluice_json_parse(sluice_json_parser *p, const char *bytes, size_t length,
                                                sluice_json_tape *out) {
    return parse(p, bytes, length, true, out);
}

extern "C" sluice_json_status sluice_json_parse_in_place(sluice_json_parser *p, const char *bytes, size_t length,
                                                         int padded, sluice_json_tape *out) {
#ifdef SLUICE_SIMDJSON_ALWAYS_COPY
    (void)padded;
    return parse(p, bytes, length, true, out);
#else
    if (padded || length == 0) return parse(p, bytes, length, !padded, out);
    const uintptr_t last = reinterpret_cast<uintptr_t>(bytes) + length - 1;
    const uintptr_t page = 4096;  // the smallest page size of the platforms Sluice runs on
    const bool samePage = last / page == (last + simdjson::SIMDJSON_PADDING) / page;
    return parse(p, bytes, length, !samePage, out);
#endif
}

extern "C" size_t sluice_json_padding(void) { return simdjson::SIMDJSON_PADDING; }

extern "C" const char *sluice_json_last_error(const sluice_json_parser *p) {
    return simdjson::error_message(p->last);
}

