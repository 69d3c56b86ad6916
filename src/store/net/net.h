/* Network store back ends on one libcurl-multi I/O engine (issue: cloud stores). */
#ifndef ZT_STORE_NET_H
#define ZT_STORE_NET_H

#include "store/store.h"

int zt__store_http_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_s3_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_gcs_open(const char *url, const zt_options_t *opts, zt_store **out);
int zt__store_azure_open(const char *url, const zt_options_t *opts, zt_store **out);

#endif
