#ifndef SLUICE_CRDKAFKA_SHIM_H
#define SLUICE_CRDKAFKA_SHIM_H
// librdkafka >= 2.1 from /usr/local (see scripts/setup). Variadic producev does not import into
// Swift: sluice_rd_kafka_produce_opaque wraps the array form (rd_kafka_produceva) with typed arguments.
#include <librdkafka/rdkafka.h>
// The in-process mock cluster (KafkaMockCluster): commit refusals and rebalances on demand in tests.
#include <librdkafka/rdkafka_mock.h>
#include <string.h>

/// Produce one message with `opaque` for its delivery report. The key is copied; the payload is
/// not (no RD_KAFKA_MSG_F_COPY): it must stay valid until the delivery report. `headers` (may be NULL) is owned by librdkafka on success and must be
/// destroyed by the caller on failure. Returns an error code.
static inline rd_kafka_resp_err_t sluice_rd_kafka_produce_opaque(
    rd_kafka_t *rk, const char *topic, int32_t partition,
    const void *payload, size_t len, const void *key, size_t keylen,
    rd_kafka_headers_t *headers, void *opaque) {
    rd_kafka_vu_t vus[7];
    size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC; vus[n].u.cstr = topic; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = partition; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = 0; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE; vus[n].u.mem.ptr = (void *)payload; vus[n].u.mem.size = len; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = opaque; n++;
    if (key) { vus[n].vtype = RD_KAFKA_VTYPE_KEY; vus[n].u.mem.ptr = (void *)key; vus[n].u.mem.size = keylen; n++; }
    if (headers) { vus[n].vtype = RD_KAFKA_VTYPE_HEADERS; vus[n].u.headers = headers; n++; }
    rd_kafka_error_t *error = rd_kafka_produceva(rk, vus, n);
    if (!error) return RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    return code;
}

#endif
