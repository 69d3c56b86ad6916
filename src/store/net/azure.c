#include "store/net/net.h"
int zt__store_azure_open(const char *url, const zt_options_t *opts, zt_store **out) {
    (void)opts;
    (void)out;
    return zt__err(ZT_EUNSUPPORTED, "%s: not yet", url);
}
