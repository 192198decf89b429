#ifndef SLUICE_CJANSSON_SHIM_H
#define SLUICE_CJANSSON_SHIM_H
// json_typeof, json_incref/decref are macros or static inline in jansson.h; typed wrappers
// make them callable from Swift.
#include <jansson.h>

static inline json_type sluice_json_typeof(const json_t *j) { return json_typeof(j); }
static inline void sluice_json_decref(json_t *j) { json_decref(j); }
static inline json_t *sluice_json_incref(json_t *j) { return json_incref(j); }
#endif
