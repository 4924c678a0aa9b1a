/* test_redis.c: the Redis Cluster routing's pure parts (carrot/redis.h): the
 * slot of a key, as the cluster specification computes it (CRC16 of the hash
 * tag), and what an error reply means for the slot map. No Redis needed:
 * integration.redis_cluster runs a real cluster. */
#include "carrot/redis.h"
#include "testutil.h"

#include <string.h>

static unsigned slot(const char *key) { return carrot_redis_slot(key, strlen(key)); }

START_TEST(slots_as_the_cluster_computes_them) {
    /* the specification's test vector: CRC16-XMODEM("123456789") = 0x31C3 */
    ck_assert_uint_eq(slot("123456789"), 0x31C3 % 16384);
    /* Redis's own answers (CLUSTER KEYSLOT on Redis 7) */
    ck_assert_uint_eq(slot("{demo}"), 903);
    ck_assert_uint_eq(slot("foo"), 12182);
    /* a hash tag: the bytes between the first { and the next } */
    ck_assert_uint_eq(slot("carrot:{demo}:lb:ptd:all"), slot("demo"));
    ck_assert_uint_eq(slot("carrot:{demo}:wm:crm.activities:3"), slot("{demo}"));
    ck_assert_uint_eq(slot("{user1000}.following"), slot("{user1000}.followers"));
    /* an empty tag hashes the whole key; only the first { and the next } count */
    ck_assert_uint_eq(slot("foo{}{bar}"), 8363);
    ck_assert_uint_eq(slot("foo{{bar}}zap"), 4015);
    ck_assert_uint_eq(slot("foo{{bar}}zap"), slot("{bar"));
    ck_assert_uint_eq(slot("foo{bar}{zap}"), 5061);
    ck_assert_uint_eq(slot("foo{bar}{zap}"), slot("bar"));
    /* no closing brace: the whole key */
    ck_assert_uint_eq(slot("{nobrace"), 329);
    ck_assert_uint_eq(slot("carrot:{demo}:lb:ptd:all"), 903);
    /* the length given, not a NUL, bounds the key */
    ck_assert_uint_eq(carrot_redis_slot("{demo}xyz", 6), slot("{demo}"));
}
END_TEST

START_TEST(redirects_are_recognised) {
    ck_assert(carrot_redis_is_redirect("MOVED 3999 127.0.0.1:6381"));
    ck_assert(carrot_redis_is_redirect("ASK 3999 127.0.0.1:6381"));
    ck_assert(carrot_redis_is_redirect("CLUSTERDOWN The cluster is down"));
    ck_assert(carrot_redis_is_redirect("TRYAGAIN Multiple keys request during rehashing"));
    ck_assert(carrot_redis_is_redirect("READONLY You can't write against a read only replica."));
    ck_assert(carrot_redis_is_redirect("MASTERDOWN Link with MASTER is down"));
    ck_assert(!carrot_redis_is_redirect("MOVEDX 1 a:1"));
    ck_assert(!carrot_redis_is_redirect("WRONGTYPE Operation against a key"));
    ck_assert(!carrot_redis_is_redirect("ERR unknown command"));
    ck_assert(!carrot_redis_is_redirect(""));
}
END_TEST

/* Nothing answers on the port: an error naming the address, no crash, and
 * the handle still usable. */
START_TEST(no_server_is_an_error) {
    carrot_redis_t *r = carrot_redis_new("127.0.0.1", 1, 200, NULL, NULL);
    ck_assert_ptr_nonnull(r);
    char errstr[256] = "";
    int fatal = 7;
    ck_assert_ptr_null(carrot_redis_for(r, "{demo}", &fatal, errstr, sizeof(errstr)));
    ck_assert_int_eq(fatal, 0);
    ck_assert_msg(strstr(errstr, "127.0.0.1:1") != NULL, "%s", errstr);
    ck_assert_int_eq(carrot_redis_is_cluster(r), 0);
    ck_assert_uint_eq(carrot_redis_connects(r), 0);
    carrot_redis_drop_all(r);
    carrot_redis_destroy(r);
    ck_assert_ptr_null(
        carrot_redis_connect_for("127.0.0.1", 1, 200, "{x}", errstr, sizeof(errstr)));
}
END_TEST

int main(void) {
    const TTest *tests[] = {slots_as_the_cluster_computes_them, redirects_are_recognised,
                            no_server_is_an_error, NULL};
    return carrot_test_run(carrot_test_suite("redis", tests));
}
