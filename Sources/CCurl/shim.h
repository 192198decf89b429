#ifndef SLUICE_CCURL_SHIM_H
#define SLUICE_CCURL_SHIM_H
// curl_easy_setopt / curl_multi_setopt / curl_easy_getinfo are variadic and do not import into
// Swift: these typed wrappers are the only way Sluice calls them.
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

static inline CURLcode sluice_curl_easy_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_easy_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_easy_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sluice_curl_easy_setopt_write(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fn); }
static inline CURLcode sluice_curl_easy_setopt_header(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fn); }
static inline CURLcode sluice_curl_easy_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sluice_curl_easy_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sluice_curl_easy_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sluice_curl_easy_getinfo_socket(CURL *h, curl_socket_t *v) { return curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, v); }
static inline CURLMcode sluice_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

// Address guard: libcurl calls CURLOPT_OPENSOCKETFUNCTION with each resolved address before it
// creates the socket, so a refused address is never connected to, whatever name resolved to it.
#define SLUICE_ALLOW_LOOPBACK 1
#define SLUICE_ALLOW_LINK_LOCAL 2
typedef struct { long allow; int refused; } sluice_address_guard;

static inline int sluice_ipv4_refused(const unsigned char *a, long allow) {
    if (a[0] == 0) return 1;                                              // 0.0.0.0/8 reaches the local host
    if (a[0] == 127) return !(allow & SLUICE_ALLOW_LOOPBACK);             // 127.0.0.0/8
    if (a[0] == 169 && a[1] == 254) return !(allow & SLUICE_ALLOW_LINK_LOCAL);  // link-local, instance metadata
    return 0;
}

static inline int sluice_address_refused(const struct sockaddr *sa, long allow) {
    if (sa->sa_family == AF_INET) {
        return sluice_ipv4_refused((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, allow);
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
        static const unsigned char zero[15] = {0};
        static const unsigned char ec2[16] = {0xfd,0x00,0x0e,0xc2,0,0,0,0,0,0,0,0,0,0,0x02,0x54};
        if (memcmp(a, mapped, 12) == 0) return sluice_ipv4_refused(a + 12, allow);
        if (memcmp(a, zero, 15) == 0) return a[15] == 0 || !(allow & SLUICE_ALLOW_LOOPBACK);  // :: and ::1
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return !(allow & SLUICE_ALLOW_LINK_LOCAL);  // fe80::/10
        if (memcmp(a, ec2, 16) == 0) return !(allow & SLUICE_ALLOW_LINK_LOCAL);               // EC2 metadata (IPv6)
        return 0;
    }
    return 1;  // neither IPv4 nor IPv6: never expected from an http(s) URL
}

static inline curl_socket_t sluice_guarded_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
    (void)purpose;
    sluice_address_guard *guard = (sluice_address_guard *)clientp;
    if (sluice_address_refused(&address->addr, guard->allow)) {
        guard->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

/// Installs the guard on a handle; `guard` must outlive the transfer.
static inline CURLcode sluice_curl_easy_guard_addresses(CURL *h, sluice_address_guard *guard) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, sluice_guarded_opensocket);
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, (void *)guard);
    return rc;
}

/// The same check on an address literal (`inet_pton` form), for refusing before any request.
static inline int sluice_address_literal_refused(const char *text, long allow) {
    struct sockaddr_in v4; struct sockaddr_in6 v6;
    memset(&v4, 0, sizeof v4); memset(&v6, 0, sizeof v6);
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) { v4.sin_family = AF_INET; return sluice_address_refused((struct sockaddr *)&v4, allow); }
    if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) { v6.sin6_family = AF_INET6; return sluice_address_refused((struct sockaddr *)&v6, allow); }
    return -1;  // not an address literal
}
#endif
