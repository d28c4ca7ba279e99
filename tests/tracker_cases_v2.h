/* tracker_cases_v2.h - the cases of schema 2 (tracker.h: queued trials,
 * parents, several teachers, a pool's premature points, trial RDMs and
 * points) and the migration of a schema-1 database, on both engines like
 * tracker_cases.h, which must be included first. */
#ifndef TG_TRACKER_CASES_V2_H
#define TG_TRACKER_CASES_V2_H

#include "tracker_cases.h"

/* Items for hashes hash[k] (genome {"q":hash}) with parents parent[k]. */
typedef struct {
    char h[32][33], g[32][64];
    tg_enqueue_item it[32];
} tc_items;

static void tc_make_items(tc_items *x, const int64_t *hash, const int64_t *parent, int n) {
    assert_true(n <= 32);
    for (int i = 0; i < n; i++) {
        tc_hash(hash[i], x->h[i]);
        snprintf(x->g[i], sizeof x->g[i], "{\"q\":%" PRId64 "}", hash[i]);
        x->it[i] = (tg_enqueue_item){x->g[i], x->h[i], parent[i]};
    }
}

static void tc_enqueue_n(tg_tracker *t, int64_t study, const int64_t *hash,
                         const int64_t *parent, int n, int64_t *number, int want_added) {
    tc_items x;
    tc_make_items(&x, hash, parent, n);
    int added = -1;
    TC_OK(tg_study_enqueue(t, study, x.it, n, number, &added, E));
    assert_int_equal(added, want_added);
}

/* Queued trials share the numbering with proposals, map a known hash to
 * its trial (also one proposed), add nothing the second time, keep their
 * parent and write no proposals; a bad item writes nothing. */
static void tc_enqueue(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    tg_study s = tc_study(t, "queue", &cfg);
    int64_t num[8];
    tc_propose(t, s.id, 0, (const int64_t[]){1, 2}, 2, "st", num);
    assert_int_equal(num[0], 0);
    assert_int_equal(num[1], 1);

    const int64_t h[] = {3, 1, 4, 3}, par[] = {-1, 5, 7, 9};
    tc_enqueue_n(t, s.id, h, par, 4, num, 2);
    assert_int_equal(num[0], 2);
    assert_int_equal(num[1], 0);   /* proposed before */
    assert_int_equal(num[2], 3);
    assert_int_equal(num[3], 2);   /* its own batch's first item */
    int64_t again[8] = {-1, -1, -1, -1};
    tc_enqueue_n(t, s.id, h, par, 4, again, 0);
    assert_memory_equal(again, num, 4 * sizeof *num);

    tc_propose(t, s.id, 2, (const int64_t[]){5, 4}, 2, "st2", num);
    assert_int_equal(num[0], 4);   /* numbering goes on after the queued ones */
    assert_int_equal(num[1], 3);   /* a proposal of a queued genome links to it */
    TC_OK(tg_study_enqueue(t, s.id, NULL, 0, NULL, NULL, E));

    tg_error e;
    tc_items x;
    tc_make_items(&x, (const int64_t[]){6, 7}, (const int64_t[]){-1, -1}, 2);
    x.h[1][5] = 'G';
    int added = -1;
    TC_FAILS(tg_study_enqueue(t, s.id, x.it, 2, num, &added, &e), e, TG_ERR_ARG,
             "enqueue item 1: hash");
    assert_int_equal(added, 0);
    x.h[1][5] = '0';
    x.it[1].genome = NULL;
    TC_FAILS(tg_study_enqueue(t, s.id, x.it, 2, num, &added, &e), e, TG_ERR_ARG,
             "enqueue item 1: no genome");
    x.it[1].genome = x.g[1];
    TC_FAILS(tg_study_enqueue(t, s.id + 1000, x.it, 2, num, &added, &e), e, TG_ERR_NOT_FOUND,
             "no study with id");

    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, 5);   /* 6 and 7 were never written */
    static const int64_t want_parent[] = {-1, -1, -1, 7, -1};
    static const char *const want_genome[] = {"{\"g\":1}", "{\"g\":2}", "{\"q\":3}",
                                              "{\"q\":4}", "{\"g\":5}"};
    for (int64_t i = 0; i < nt; i++) {
        assert_int_equal(tr[i].number, i);
        assert_int_equal(tr[i].state, TG_TRIAL_WAITING);
        assert_int_equal(tr[i].parent, want_parent[i]);
        assert_string_equal(tr[i].genome, want_genome[i]);
        assert_null(tr[i].rdms);
        assert_null(tr[i].points);
    }
    char want_hash[33];
    tc_hash(4, want_hash);
    assert_string_equal(tr[3].hash, want_hash);
    tg_trials_free(tr, nt);
    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.waiting, 5);
    assert_int_equal(c.proposals, 4);   /* the explorer's, not the queue's */

    /* a queued trial is claimed like any other, in number order */
    tg_worker_id w;
    tc_worker(&w, "hostq", 11);
    tg_claim cl;
    int got = 0;
    for (int k = 0; k < 3; k++) {
        TC_OK(tg_trial_claim(t, s.id, &w, 30, &cl, &got, E));
        assert_int_equal(got, 1);
        assert_int_equal(cl.number, k);
        if (k == 2) assert_string_equal(cl.genome, "{\"q\":3}");
        tg_claim_free(&cl);
    }
    tg_tracker_close(t);
}

/* tg_study.parent: -1 until set, read by get, list and open; unset again
 * with -1; a study that does not exist (either side) is refused. */
static void tc_parent(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    tg_study a = tc_study(t, "search", &cfg);
    assert_int_equal(a.parent, -1);
    tg_study_config rc = cfg;
    snprintf(rc.algo, sizeof rc.algo, "rerank");
    rc.epochs = 4;
    tg_study b = tc_study(t, "search-rerank", &rc);
    assert_int_equal(b.parent, -1);
    TC_OK(tg_study_set_parent(t, b.id, a.id, E));

    tg_study got;
    TC_OK(tg_study_get(t, "search-rerank", &got, E));
    assert_int_equal(got.parent, a.id);
    assert_string_equal(got.cfg.algo, "rerank");
    TC_OK(tg_study_get(t, "search", &got, E));
    assert_int_equal(got.parent, -1);
    tg_study *all = NULL;
    int n = 0;
    TC_OK(tg_study_list(t, &all, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(all[0].parent, -1);
    assert_int_equal(all[1].parent, a.id);
    free(all);
    int created = -1;
    TC_OK(tg_study_open(t, "search-rerank", &rc, NULL, 0, &got, &created, E));
    assert_int_equal(created, 0);
    assert_int_equal(got.parent, a.id);

    tg_error e;
    TC_FAILS(tg_study_set_parent(t, b.id, a.id + 1000, &e), e, TG_ERR_NOT_FOUND,
             "no study with id");
    TC_FAILS(tg_study_set_parent(t, b.id + 1000, a.id, &e), e, TG_ERR_NOT_FOUND,
             "no study with id");
    TC_FAILS(tg_study_set_parent(t, b.id, b.id, &e), e, TG_ERR_ARG, "its own parent");
    TC_OK(tg_study_get(t, "search-rerank", &got, E));
    assert_int_equal(got.parent, a.id);   /* the refusals changed nothing */
    TC_OK(tg_study_set_parent(t, b.id, -1, E));
    TC_OK(tg_study_get(t, "search-rerank", &got, E));
    assert_int_equal(got.parent, -1);
    tg_tracker_close(t);
}

/* n bytes of xorshift64 from seed, byte 0 and byte n/2 forced to 0. */
static unsigned char *tc_bytes(size_t n, uint64_t seed) {
    unsigned char *b = malloc(n);
    assert_non_null(b);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b[i] = (unsigned char)(x >> 56);
    }
    b[0] = b[n / 2] = 0;
    return b;
}

static void tc_check_teacher(const tg_study_teacher_file *te, int position, const char *name,
                             const unsigned char *data, size_t n) {
    assert_int_equal(te->position, position);
    assert_string_equal(te->name, name);
    assert_int_equal(te->n, n);
    assert_memory_equal(te->data, data, n);
}

/* Position 0 is the study's own teacher (filled by the first add when the
 * study has none, "teacher" when tg_study_open stored it), the others
 * follow in the order added; the bytes come back exactly. */
static void tc_teachers(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    snprintf(cfg.algo, sizeof cfg.algo, "pool");
    tg_study s = tc_study(t, "pool", &cfg);   /* no teacher yet */
    tg_study_teacher_file *te = NULL;
    int n = -1;
    TC_OK(tg_study_teachers(t, s.id, &te, &n, E));
    assert_int_equal(n, 0);
    assert_null(te);

    enum { N0 = 70001, N1 = 3, N2 = 1 << 16 };
    unsigned char *b0 = tc_bytes(N0, 11), *b1 = tc_bytes(N1, 12), *b2 = tc_bytes(N2, 13);
    int pos = -5;
    TC_OK(tg_study_add_teacher(t, s.id, "resnet20", b0, N0, &pos, E));
    assert_int_equal(pos, 0);
    TC_OK(tg_study_add_teacher(t, s.id, "V4 recordings", b1, N1, &pos, E));
    assert_int_equal(pos, 1);
    TC_OK(tg_study_add_teacher(t, s.id, "IT", b2, N2, NULL, E));

    TC_OK(tg_study_teachers(t, s.id, &te, &n, E));
    assert_int_equal(n, 3);
    tc_check_teacher(&te[0], 0, "resnet20", b0, N0);
    tc_check_teacher(&te[1], 1, "V4 recordings", b1, N1);
    tc_check_teacher(&te[2], 2, "IT", b2, N2);
    tg_study_teachers_free(te, n);
    void *buf = NULL;
    size_t nb = 0;
    TC_OK(tg_study_teacher(t, s.id, &buf, &nb, E));   /* position 0 is the study's own */
    assert_int_equal(nb, N0);
    assert_memory_equal(buf, b0, N0);
    free(buf);
    tg_study got;
    TC_OK(tg_study_get(t, "pool", &got, E));
    assert_int_equal(got.has_teacher, 1);

    /* opened with a teacher: that one is position 0, named "teacher" */
    tg_study o;
    int created = -1;
    TC_OK(tg_study_open(t, "with", &cfg, b1, N1, &o, &created, E));
    TC_OK(tg_study_add_teacher(t, o.id, "second", b2, N2, &pos, E));
    assert_int_equal(pos, 1);
    TC_OK(tg_study_teachers(t, o.id, &te, &n, E));
    assert_int_equal(n, 2);
    tc_check_teacher(&te[0], 0, "teacher", b1, N1);
    tc_check_teacher(&te[1], 1, "second", b2, N2);
    tg_study_teachers_free(te, n);

    tg_error e;
    char longname[140];
    memset(longname, 'x', 128);
    longname[128] = '\0';
    TC_FAILS(tg_study_add_teacher(t, o.id, longname, b1, N1, &pos, &e), e, TG_ERR_ARG,
             "want 1-127 bytes");
    assert_int_equal(pos, -1);
    TC_FAILS(tg_study_add_teacher(t, o.id, "", b1, N1, &pos, &e), e, TG_ERR_ARG,
             "want 1-127 bytes");
    TC_FAILS(tg_study_add_teacher(t, o.id, "empty", b1, 0, &pos, &e), e, TG_ERR_ARG,
             "empty teacher file");
    TC_FAILS(tg_study_add_teacher(t, o.id + 1000, "x", b1, N1, &pos, &e), e, TG_ERR_NOT_FOUND,
             "no study with id");
    TC_FAILS(tg_study_teachers(t, o.id + 1000, &te, &n, &e), e, TG_ERR_NOT_FOUND,
             "no study with id");
    assert_int_equal(n, 0);
    longname[127] = '\0';
    TC_OK(tg_study_add_teacher(t, o.id, longname, b1, N1, &pos, E));
    assert_int_equal(pos, 2);
    TC_OK(tg_study_teachers(t, o.id, &te, &n, E));
    assert_int_equal(n, 3);
    tc_check_teacher(&te[2], 2, longname, b1, N1);
    tg_study_teachers_free(te, n);
    free(b0);
    free(b1);
    free(b2);
    tg_tracker_close(t);
}

/* A pool's `at`: in the JSON only when there are points, exact, checked,
 * kept by the database and compared on resume. */
static void tc_config_at(const char *url) {
    tg_study_config c, back;
    tc_config(&c, 8);
    snprintf(c.algo, sizeof c.algo, "pool");
    c.epochs = 2;
    const double at[] = {0.1, 0.1 + 0.2, 0.5, 1};
    c.nat = 4;
    memcpy(c.at, at, sizeof at);
    TC_OK(tg_study_config_check(&c, E));
    tg_error e;
    char *j = tg_study_config_json(&c, &e);
    assert_non_null(j);
    if (!strstr(j, "\"alpha\":1,\"at\":[0.1,0.30000000000000004,0.5,1],\"batch\":128,"))
        fail_msg("config JSON %s lacks the sorted, exact at", j);
    TC_OK(tg_study_config_parse(j, &back, E));
    free(j);
    assert_int_equal(back.nat, 4);
    assert_memory_equal(back.at, at, sizeof at);
    char msg[400];
    assert_int_equal(tg_study_config_diff(&c, &back, msg, sizeof msg), 0);

    /* none: no key, and a configuration without one reads as none */
    back = c;
    back.nat = 0;
    j = tg_study_config_json(&back, &e);
    assert_non_null(j);
    assert_null(strstr(j, "\"at\""));
    back.nat = 3;
    TC_OK(tg_study_config_parse(j, &back, E));
    assert_int_equal(back.nat, 0);
    /* an otherwise complete configuration with a bad "at" */
    static const char *const bad[][2] = {
        {"1", "at is not an array"},
        {"[0.5,\"1\"]", "at[1] is not a number"},
        {"[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]", "at has 17 points, at most 16"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[2048];
        snprintf(json, sizeof json, "{\"at\":%s,%s", bad[i][0], j + 1);
        TC_FAILS(tg_study_config_parse(json, &back, &e), e, TG_ERR_FORMAT, bad[i][1]);
    }
    free(j);

    /* checks */
    back = c;
    snprintf(back.algo, sizeof back.algo, "tpe");
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG,
             "at: only a pool has premature points (algo is tpe)");
    back.nat = 0;
    TC_OK(tg_study_config_check(&back, E));
    back = c;
    back.nat = 0;
    TC_OK(tg_study_config_check(&back, E));   /* a pool of mature points only */
    back = c;
    back.at[2] = 0.25;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG,
             "at: 0.25 follows 0.3, want strictly ascending");
    back = c;
    back.at[1] = 0.1;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "strictly ascending");
    back = c;
    back.at[3] = 2;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG,
             "at: 2 (point 4) is not inside (0, epochs 2)");
    back = c;
    back.at[0] = 0;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "at: 0 (point 1)");
    back = c;
    back.at[0] = NAN;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "(point 1) is not inside");
    back = c;
    back.nat = TG_STUDY_MAX_AT + 1;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG,
             "at: 17 premature points, want 0 to 16");
    back.nat = -1;
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG, "want 0 to 16");
    back = c;
    back.nat = TG_STUDY_MAX_AT;
    back.epochs = 100;
    for (int i = 0; i < TG_STUDY_MAX_AT; i++) back.at[i] = 1.5 * (i + 1);
    TC_OK(tg_study_config_check(&back, E));
    back = c;
    snprintf(back.algo, sizeof back.algo, "grid");
    TC_FAILS(tg_study_config_check(&back, &e), e, TG_ERR_ARG,
             "algo: 'grid' is none of random, tpe, rl, evolution, rerank, pool");
    snprintf(back.algo, sizeof back.algo, "rerank");
    back.nat = 0;
    TC_OK(tg_study_config_check(&back, E));

    /* through the database, and compared when the pool resumes */
    tg_tracker *t = tc_open(url);
    tg_study s = tc_study(t, "pool-at", &c), got;
    TC_OK(tg_study_get(t, "pool-at", &got, E));
    assert_int_equal(got.cfg.nat, 4);
    assert_memory_equal(got.cfg.at, at, sizeof at);
    assert_int_equal(got.id, s.id);
    int created = -1;
    back = c;
    back.trials = 20;   /* may change */
    TC_OK(tg_study_open(t, "pool-at", &back, NULL, 0, &got, &created, E));
    assert_int_equal(created, 0);
    assert_int_equal(got.cfg.nat, 4);
    back = c;
    back.nat = 2;
    back.at[1] = 0.5;
    TC_FAILS(tg_study_open(t, "pool-at", &back, NULL, 0, &got, &created, &e), e, TG_ERR_ARG,
             "at: the study has [0.1,0.30000000000000004,0.5,1], this run asks for [0.1,0.5]");
    back = c;
    back.at[3] = 1.5;
    TC_FAILS(tg_study_open(t, "pool-at", &back, NULL, 0, &got, &created, &e), e, TG_ERR_ARG,
             "this run asks for [0.1,0.30000000000000004,0.5,1.5]");
    back = c;
    back.nat = 0;
    TC_FAILS(tg_study_open(t, "pool-at", &back, NULL, 0, &got, &created, &e), e, TG_ERR_ARG,
             "this run asks for []");
    tg_tracker_close(t);
}

/* rdms and points go in with the report and come back from list and best
 * as written; NULL stays NULL. */
static void tc_rdms_points(const char *url) {
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, 10);
    snprintf(cfg.algo, sizeof cfg.algo, "pool");
    cfg.epochs = 2;
    cfg.nat = 1;
    cfg.at[0] = 0.5;
    tg_study s = tc_study(t, "pts", &cfg);
    int64_t num[3];
    tc_enqueue_n(t, s.id, (const int64_t[]){21, 22, 23}, (const int64_t[]){4, -1, 6}, 3, num,
                 3);
    static const char rdms[] =
        "{\"unit\":\"category\",\"m\":10,\"k\":2,\"teacher\":[\"L1\",\"L2\"],"
        "\"candidate\":[\"layer3\",\"layer3\"],\"rdm\":[[[0,0.25],[0.25,0]],"
        "[[0,1e-300],[1e-300,0]]]}";
    static const char points[] =
        "[{\"at\":0.5,\"examples\":12800,\"p\":0.61,\"val_loss\":1.2,\"p_bn\":0.7,"
        "\"teachers\":[{\"position\":0,\"layers\":[\"L1\"],\"candidate\":[\"layer0\"],"
        "\"r\":{\"pearson\":[[0.5]],\"spearman\":[[null]],\"kendall\":[[0.25]],"
        "\"cka\":[[0.125]]}}]},{\"at\":2,\"examples\":51200,\"p\":0.8,\"val_loss\":0.6,"
        "\"p_bn\":0.81,\"teachers\":[]}]";
    tg_worker_id w;
    tc_worker(&w, "hostp", 12);
    for (int k = 0; k < 3; k++) {
        tg_claim c;
        int got = 0, fenced = -1;
        TC_OK(tg_trial_claim(t, s.id, &w, 30, &c, &got, E));
        assert_int_equal(got, 1);
        tg_trial_result r = tc_result(0.5 + 0.1 * (double)k);
        if (k == 0) r.rdms = rdms;
        if (k == 1) r.points = points;
        if (k == 2) r.rdms = "{}", r.points = "[]";
        TC_OK(tg_trial_report(t, &c, &w, &r, &fenced, E));
        assert_int_equal(fenced, 0);
        /* a repeated report (reply lost) is still not fenced and changes nothing */
        TC_OK(tg_trial_report(t, &c, &w, &r, &fenced, E));
        assert_int_equal(fenced, 0);
        tg_claim_free(&c);
    }
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, 3);
    assert_string_equal(tr[0].rdms, rdms);
    assert_null(tr[0].points);
    assert_null(tr[1].rdms);
    assert_string_equal(tr[1].points, points);
    assert_string_equal(tr[2].rdms, "{}");
    assert_string_equal(tr[2].points, "[]");
    assert_int_equal(tr[0].parent, 4);
    assert_int_equal(tr[1].parent, -1);
    assert_int_equal(tr[2].parent, 6);
    tg_trials_free(tr, nt);
    TC_OK(tg_trial_best(t, s.id, 2, &tr, &nt, E));
    assert_int_equal(nt, 2);
    assert_int_equal(tr[0].number, 2);
    assert_int_equal(tr[0].parent, 6);
    assert_string_equal(tr[0].points, "[]");
    assert_int_equal(tr[1].number, 1);
    assert_string_equal(tr[1].points, points);
    assert_null(tr[1].rdms);
    tg_trials_free(tr, nt);
    tg_tracker_close(t);
}

/* A database made by the released tgsage (schema 1 only, rows written
 * with its SQL) opens, migrates and reads back: no parent, the teacher as
 * position 0 named "teacher", no rdms or points; and the new calls work
 * on it. */
static void tc_v1_to_v2(const char *url) {
    static const char v1config[] =
        "{\"algo\":\"tpe\",\"alpha\":0.5,\"batch\":128,\"data\":\"fashion-mnist\","
        "\"epochs\":1.5,\"fingerprint\":\"0123456789abcdef0123456789abcdef\",\"lease_s\":60,"
        "\"max_attempts\":3,\"nval\":5000,\"parallel\":2,\"score\":\"p+tg\",\"seed\":\"7\","
        "\"space\":\"layerwise:4\",\"train_limit\":0,\"trials\":10}";
    enum { NT = 4099 };
    unsigned char *teacher = tc_bytes(NT, 77);
    char h0[33], h1[33];
    tc_hash(100, h0);
    tc_hash(101, h1);
    tg_db *db = NULL;
    TC_OK(tg_db_open(url, &db, E));
    int n, found = -1;
    const tg_tracker_migration *steps = tg_tracker_migrations(&n);
    assert_int_equal(steps[1].to, 2);
    TC_OK(tg_tracker_migrate(db, "db", steps, 1, 1, &found, E));
    assert_int_equal(found, 0);
    tg_dbv sp[2] = {tg_dbv_text(v1config), tg_dbv_blob(teacher, NT)};
    TC_OK(tg_db_exec(db, "INSERT INTO studies (name, config, max_attempts, teacher, done,"
                     " created, next_number) VALUES ('old', $1, 3, $2, 0, 1000.5, 2)",
                     sp, 2, NULL, NULL, E));
    tg_dbv tp[2] = {tg_dbv_text(h0), tg_dbv_text(h1)};
    TC_OK(tg_db_exec(db, "INSERT INTO trials (study_id, number, hash, genome, state, attempt,"
                     " owner, host, pid, created, started, finished, examples, score, p, tg,"
                     " sim) SELECT id, 0, CAST($1 AS TEXT), '{\"g\":100}', 'complete', 1,"
                     " 'h:1:0', 'h', 1, 1001, 1002, 1003, 640, 0.75, 0.5, 0.25, '{\"r\":[[0.25]]}'"
                     " FROM studies WHERE name = 'old'", tp, 1, NULL, NULL, E));
    TC_OK(tg_db_exec(db, "INSERT INTO trials (study_id, number, hash, genome, state, attempt,"
                     " created) SELECT id, 1, CAST($1 AS TEXT), '{\"g\":101}', 'waiting', 0,"
                     " 1001 FROM studies WHERE name = 'old'", &tp[1], 1, NULL, NULL, E));
    TC_OK(tg_db_exec(db, "INSERT INTO proposals (study_id, pid, number) SELECT id, 0, 0"
                     " FROM studies WHERE name = 'old'", NULL, 0, NULL, NULL, E));
    TC_OK(tg_db_exec(db, "INSERT INTO proposals (study_id, pid, number) SELECT id, 1, 1"
                     " FROM studies WHERE name = 'old'", NULL, 0, NULL, NULL, E));
    tg_db_close(db);
    char *v = tc_meta_version(url);
    assert_string_equal(v, "1");
    free(v);

    tg_tracker *t = tc_open(url);
    v = tc_meta_version(url);
    assert_string_equal(v, "2");
    free(v);
    tg_study s;
    TC_OK(tg_study_get(t, "old", &s, E));
    assert_int_equal(s.parent, -1);
    assert_int_equal(s.has_teacher, 1);
    assert_true(s.created == 1000.5);
    assert_true(s.cfg.alpha == 0.5 && s.cfg.epochs == 1.5);
    assert_int_equal(s.cfg.parallel, 2);
    assert_int_equal(s.cfg.nat, 0);
    tg_study_teacher_file *te = NULL;
    int nte = 0;
    TC_OK(tg_study_teachers(t, s.id, &te, &nte, E));
    assert_int_equal(nte, 1);
    tc_check_teacher(&te[0], 0, "teacher", teacher, NT);
    tg_study_teachers_free(te, nte);

    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, 2);
    assert_int_equal(tr[0].state, TG_TRIAL_COMPLETE);
    assert_true(tr[0].score == 0.75 && tr[0].p == 0.5 && tr[0].tg == 0.25);
    assert_int_equal(tr[0].examples, 640);
    assert_string_equal(tr[0].sim, "{\"r\":[[0.25]]}");
    assert_string_equal(tr[0].hash, h0);
    assert_string_equal(tr[0].owner, "h:1:0");
    assert_true(tr[0].finished == 1003);
    for (int i = 0; i < 2; i++) {
        assert_null(tr[i].rdms);
        assert_null(tr[i].points);
        assert_int_equal(tr[i].parent, -1);
    }
    assert_int_equal(tr[1].state, TG_TRIAL_WAITING);
    assert_string_equal(tr[1].genome, "{\"g\":101}");
    tg_trials_free(tr, nt);

    /* schema 2's calls on the migrated rows */
    int64_t num[2];
    tc_enqueue_n(t, s.id, (const int64_t[]){102, 100}, (const int64_t[]){0, 0}, 2, num, 1);
    assert_int_equal(num[0], 2);   /* after the old next_number */
    assert_int_equal(num[1], 0);
    int pos = -1;
    TC_OK(tg_study_add_teacher(t, s.id, "V4", teacher, 10, &pos, E));
    assert_int_equal(pos, 1);
    tg_study_config cfg;
    TC_OK(tg_study_config_parse(v1config, &cfg, E));
    int created = -1;
    TC_OK(tg_study_open(t, "old", &cfg, NULL, 0, &s, &created, E));   /* resumes as it was */
    assert_int_equal(created, 0);
    tg_study_counts c;
    TC_OK(tg_study_counts_get(t, s.id, &c, E));
    assert_int_equal(c.proposals, 2);
    assert_int_equal(c.complete, 1);
    assert_int_equal(c.waiting, 2);
    assert_int_equal(c.best_number, 0);
    tg_tracker_close(t);
    free(teacher);
}

/* Processes queueing the same list at once: each genome is added once,
 * numbers 0..n-1 without a gap, every process gets the same mapping. */
static void tc_enqueue_race(const char *url) {
    enum { NPROC = 6, NITEMS = 30 };
    tg_tracker *t = tc_open(url);
    tg_study_config cfg;
    tc_config(&cfg, NITEMS);
    snprintf(cfg.algo, sizeof cfg.algo, "pool");
    tg_study s = tc_study(t, "race", &cfg);
    tg_tracker_close(t);
    int64_t hash[NITEMS], parent[NITEMS];
    for (int i = 0; i < NITEMS; i++) hash[i] = 500 + (i * 7) % NITEMS, parent[i] = -1;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t kids[NPROC];
    for (int k = 0; k < NPROC; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] != 0) continue;
        close(fds[0]);
        tg_tracker *c = NULL;
        tg_error e;
        tg_error_clear(&e);
        tc_items x;
        tc_make_items(&x, hash, parent, NITEMS);
        int64_t out[NITEMS + 1];
        int added = 0;
        int rc = tg_tracker_open(url, &c, &e) == TG_OK &&
                 tg_study_enqueue(c, s.id, x.it, NITEMS, out, &added, &e) == TG_OK;
        if (!rc) fprintf(stderr, "enqueuer %d: %s\n", k, e.msg);
        out[NITEMS] = added;
        if (rc && write(fds[1], out, sizeof out) != (ssize_t)sizeof out) rc = 0;
        tg_tracker_close(c);
        close(fds[1]);
        _exit(rc ? 0 : 1);
    }
    close(fds[1]);
    int64_t out[NITEMS + 1], first[NITEMS], total = 0;
    int reads = 0;
    while (read(fds[0], out, sizeof out) == (ssize_t)sizeof out) {
        if (reads++ == 0) memcpy(first, out, sizeof first);
        assert_memory_equal(out, first, sizeof first);
        total += out[NITEMS];
    }
    close(fds[0]);
    for (int k = 0; k < NPROC; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(reads, NPROC);
    assert_int_equal(total, NITEMS);
    t = tc_open(url);
    tg_trial *tr = NULL;
    int64_t nt = 0;
    TC_OK(tg_trial_list(t, s.id, &tr, &nt, E));
    assert_int_equal(nt, NITEMS);
    for (int64_t i = 0; i < nt; i++) assert_int_equal(tr[i].number, i);
    for (int i = 0; i < NITEMS; i++) {
        char h[33];
        tc_hash(hash[i], h);
        assert_string_equal(tr[first[i]].hash, h);
    }
    tg_trials_free(tr, nt);
    tg_tracker_close(t);
}

#endif
