/* Private to storage/: the associated data that names an archive row when its payload is sealed,
 * shared by the archive's writes and reads and by the offline queue that reads archived copies. */
#ifndef WB_STORE_ARCHIVE_INT_H
#define WB_STORE_ARCHIVE_INT_H

#include <stddef.h>
#include <stdint.h>

#define WB_STORE_ARCHIVE_AD_MAX 96 /* "archive:<int64>:<uuid>" */

/* "archive:<account>:<stanza_id>" into ad (size bytes). */
void wb_store_archive_ad(char *ad, size_t size, int64_t account, const char *stanza_id);

#endif
