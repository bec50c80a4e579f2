/* SPDX-License-Identifier: MIT */
/*
 * `udma bench pin`: each size, each method, --runs times; a row per method
 * and size with the spread of the runs and the state the last run left
 * (read before it is undone). What a method needs is checked first, so a
 * row that cannot run here says why (privilege, hugepages, RLIMIT_MEMLOCK,
 * io_uring, a device) in `skipped`. A method that could run and failed is an
 * error: its row says why in `error`, the run goes on, and exits 1.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/bench/page_move.h"
#include "tools/bench/pin.h"
#include "lib/os/os.h"

#define BENCH "pin"

static bool selected(const struct pin_args *a, const struct pin_method *m)
{
	const char *p = a->methods;

	if (a->page_size && m->page_size && m->page_size != a->page_size)
		return false;
	if (!p)
		return true;
	/* a name selects that method; another word every method whose name
	 * holds it: "mlock" selects every mlock method */
	while (*p) {
		size_t len = strcspn(p, ","), k;
		char word[64];

		snprintf(word, sizeof(word), "%.*s", (int)len, p);
		for (k = 0; k < pin_nmethods && strcmp(pin_methods[k].name, word); k++)
			;
		if (k < pin_nmethods ? !strcmp(m->name, word) : len && strstr(m->name, word))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* Why the method cannot run at this size, or false. As root, hugepages are
 * topped up for the run (and given back at exit). */
static bool cannot_run(struct pin_bench *b, const struct pin_method *m, size_t len, size_t ps, char *why,
		       size_t wlen)
{
	char need[32], have[32], src[96];
	/* hugetlb pages come from the pool; everything else from free memory */
	bool huge = (m->flags & NEED_HUGE) || (!m->page_size && ps > UDMA_PAGE_4K);
	uint64_t avail;

	if ((m->flags & NEED_DEVICE) && !b->a->device) {
		snprintf(why, wlen, "no --device vfio:BDF given");
		return true;
	}
	if ((m->flags & NEED_ROOT) && udma_pfn_readable() != 1) {
		snprintf(why, wlen, "not root: /proc/self/pagemap gives PFNs as 0 without CAP_SYS_ADMIN");
		return true;
	}
	if (!bench_kernel_offers(ps)) {
		snprintf(why, wlen, "the kernel offers no %s hugepages",
			 udma__fmt_size(ps, need, sizeof(need)));
		return true;
	}
	if (!huge && !udma__mem_available(UDMA_NUMA_ANY, &avail, src, sizeof(src)) && len > avail / 10 * 9) {
		snprintf(why, wlen, "needs %s, more than 90%% of the %s the kernel could still give (%s)",
			 udma__fmt_size(len, need, sizeof(need)),
			 udma__fmt_size_approx(avail, have, sizeof(have)), src);
		return true;
	}
	if (huge) {
		unsigned long pages = len / ps;
		long free_now;

		bench_hugepages_ensure(ps, pages);
		free_now = udma_hugepage_available(ps, UDMA_NUMA_ANY);
		if (free_now < (long)pages) {
			snprintf(why, wlen, "no free %s hugepages: %ld available, %lu needed%s",
				 udma__fmt_size(ps, need, sizeof(need)), free_now < 0 ? 0 : free_now, pages,
				 geteuid() ? " (as root, udma bench reserves them for the run)"
					   : " (the kernel gave no more: memory too fragmented?)");
			return true;
		}
	}
	/* udma locks a region of 4 KiB pages, and VFIO counts what it maps
	 * against the same limit */
	if (((m->flags & (NEED_MEMLOCK | NEED_DEVICE)) || ((m->flags & NEED_CTX) && ps == UDMA_PAGE_4K)) &&
	    udma__memlock_check(len)) {
		snprintf(why, wlen, "%s", udma_last_error());
		return true;
	}
	if (m->flags & NEED_LONGTERM) {
		if (!b->longterm_checked) {
			b->longterm_err = udma__longterm_pin_probe(b->longterm_why, sizeof(b->longterm_why));
			b->longterm_checked = true;
		}
		if (b->longterm_err) {
			snprintf(why, wlen, "%s", b->longterm_why);
			return true;
		}
	}
	return false;
}

/* A row without a time: skipped (cannot run here), or error (failed). */
static void untimed_row(const struct pin_method *m, size_t size, size_t ps, const char *skipped,
			const char *error)
{
	struct bench_row row = {.bench = BENCH,
				.method = m->name,
				.size = size,
				.page_size = ps,
				.median_ns = NAN,
				.min_ns = NAN,
				.max_ns = NAN,
				.skipped = skipped,
				.error = error};

	bench_report_row(&row);
}

/* What the runs measured, for the row. */
struct pin_result {
	double *ns, *extra_ns;
	unsigned heap_runs;
	struct pin_state st;
	bool have_state, moved_known;
	struct page_move_result move;
	char state_why[256], move_why[256];
};

static void result_row(struct pin_bench *b, const struct pin_method *m, size_t size, size_t len, size_t ps,
		       const struct pin_result *res)
{
	const struct pin_args *a = b->a;
	struct bench_field f[20];
	char from[64];
	unsigned n = 0;
	bool pa = b->ctx && udma_ctx_iova_mode(b->ctx) == UDMA_IOVA_PA;
	struct bench_row row = {.bench = BENCH,
				.method = m->name,
				.size = size,
				.page_size = ps,
				.median_ns = bench_median(res->ns, a->runs),
				.runs = a->runs,
				.extra = f};

	bench_spread(res->ns, a->runs, &row.min_ns, &row.max_ns);
	if (len != size)
		f[n++] = (struct bench_field)BENCH_NUM("mapped_bytes", (double)len);
	if (m->extra_key)
		f[n++] = (struct bench_field)BENCH_NUM(m->extra_key, bench_median(res->extra_ns, a->runs));
	if (res->have_state) {
		f[n++] = (struct bench_field)BENCH_NUM("resident_bytes", (double)res->st.resident);
		f[n++] = (struct bench_field)BENCH_NUM("locked_bytes", (double)res->st.locked);
		f[n++] = (struct bench_field)BENCH_NUM("pinned_bytes", (double)res->st.pinned);
		if (!strcmp(m->name, "thp_madv_hugepage") || res->st.anon_huge)
			f[n++] = (struct bench_field)BENCH_NUM("anon_huge_bytes", (double)res->st.anon_huge);
		if (res->st.pfns) {
			f[n++] = (struct bench_field)BENCH_NUM("contig_runs", (double)res->st.runs);
			f[n++] = (struct bench_field)BENCH_NUM("longest_run_bytes", (double)res->st.longest);
		} else {
			f[n++] = (struct bench_field)BENCH_STR("pfns", "PFNs need root");
		}
	} else {
		f[n++] = (struct bench_field)BENCH_STR("state", res->state_why);
	}
	/* Seen, not assumed: VmPin covers the mapping (io_uring pins, udma's PA
	 * regions). */
	f[n++] = (struct bench_field)BENCH_RAW("longterm_pin",
					       res->have_state && res->st.pinned >= len ? "true" : "false");
	/* VFIO pins what it maps for DMA, but accounts it as locked memory of
	 * the process (not in VmPin, nor in the VMA's Locked:): who pins is said. */
	if (m->flags & NEED_DEVICE)
		f[n++] = (struct bench_field)BENCH_STR("pinned_by", "vfio");
	if (!strcmp(m->name, "malloc")) {
		if (res->heap_runs == 0 || res->heap_runs == a->runs)
			snprintf(from, sizeof(from), "%s", res->heap_runs ? "heap" : "mmap");
		else
			snprintf(from, sizeof(from), "heap in %u of %u runs, else mmap", res->heap_runs,
				 a->runs);
		f[n++] = (struct bench_field)BENCH_STR("malloc_from", from);
	}
	if (m->flags & NEED_CTX)
		f[n++] = (struct bench_field)BENCH_STR("iova_mode", pa ? "pa" : "va");
	if (m->flags & NEED_DEVICE)
		f[n++] = (struct bench_field)BENCH_STR("iova_mode", "va");
	if (m->flags & TRANSLATE)
		f[n++] = (struct bench_field)BENCH_NUM("per_page_ns", row.median_ns / (double)(len / ps));
	if (a->migrate && res->moved_known) {
		f[n++] = (struct bench_field)BENCH_NUM("pages_moved", (double)res->move.moved);
		f[n++] = (struct bench_field)BENCH_NUM("blocks_offlined", (double)res->move.blocks_offlined);
		f[n++] = (struct bench_field)BENCH_NUM("blocks_refused", (double)res->move.blocks_refused);
		f[n++] = (struct bench_field)BENCH_RAW("compacted", res->move.compacted ? "true" : "false");
	} else if (a->migrate) {
		f[n++] = (struct bench_field)BENCH_STR("pages_moved", res->move_why);
	}
	f[n] = (struct bench_field){.key = NULL};
	bench_report_row(&row);
}

/* The last run: what the mapping is like, and with --migrate whether its
 * pages stay put when the kernel tries to move them. */
/* Each memory block's offline attempt may take this long: the kernel retries
 * migrating a busy page until then. */
#define MOVE_TIMEOUT_MS 2000

/* The last run: what the mapping is like, and with --migrate whether its
 * pages stay put when the kernel tries to move them. */
static void read_state(struct pin_bench *b, const struct pin_run *r, struct pin_result *res)
{
	void *addr = r->addr;
	size_t len = r->region ? udma_region_size(r->region) : r->len;

	if (r->have_state) {
		res->st = r->st;
		res->have_state = true;
	} else if (!addr) {
		snprintf(res->state_why, sizeof(res->state_why),
			 "not read: the memory was a forked child's, gone now");
	} else if (pin_state_read(addr, len, &res->st)) {
		snprintf(res->state_why, sizeof(res->state_why), "%s", udma_last_error());
	} else {
		res->have_state = true;
	}
	if (b->a->migrate && !addr) {
		snprintf(res->move_why, sizeof(res->move_why),
			 "not tried: the memory was a forked child's, gone now");
	} else if (b->a->migrate) {
		int rc = page_move_attempt(addr, len, MOVE_TIMEOUT_MS, &res->move, res->move_why,
					   sizeof(res->move_why));

		res->moved_known = !rc;
		if (rc && !res->move_why[0])
			snprintf(res->move_why, sizeof(res->move_why), "moving the pages failed: %s",
				 strerror(rc < 0 ? -rc : EIO));
	}
}

static void run_method(struct pin_bench *b, const struct pin_method *m, size_t size)
{
	const struct pin_args *a = b->a;
	size_t ps = m->page_size ? m->page_size : a->page_size ? a->page_size : UDMA_PAGE_4K;
	size_t len = !strcmp(m->name, "malloc") ? size : bench_round_up(size, ps);
	struct pin_result res = {0};
	char why[320];
	unsigned i;

	if (cannot_run(b, m, len, ps, why, sizeof(why))) {
		untimed_row(m, size, ps, why, NULL);
		return;
	}
	res.ns = calloc(a->runs, sizeof(double));
	res.extra_ns = calloc(a->runs, sizeof(double));
	if (!res.ns || !res.extra_ns) {
		untimed_row(m, size, ps, NULL, "out of memory for the timings");
		goto out;
	}
	for (i = 0; i < a->runs; i++) {
		struct pin_run r = {.size = size, .len = len, .page_size = ps, .fd = -1};
		int rc = m->get(b, &r);

		if (rc) {
			m->put(b, &r);
			/* cannot_run found nothing missing: a failure, not a skip */
			untimed_row(m, size, ps, NULL, r.why[0] ? r.why : strerror(-rc));
			goto out;
		}
		res.ns[i] = r.ns;
		res.extra_ns[i] = r.extra_ns;
		res.heap_runs += r.from_heap;
		if (i + 1 == a->runs)
			read_state(b, &r, &res);
		m->put(b, &r);
	}
	result_row(b, m, size, len, ps, &res);
out:
	free(res.ns);
	free(res.extra_ns);
}

/* Information rows: what this machine gives the methods. */
static void setup_row(struct pin_bench *b)
{
	struct rlimit rl;
	char memlock[32] = "unlimited";
	struct bench_row row = {
		.bench = BENCH, .method = "limits", .median_ns = NAN, .min_ns = NAN, .max_ns = NAN};

	(void)b;
	if (!getrlimit(RLIMIT_MEMLOCK, &rl) && rl.rlim_cur != RLIM_INFINITY)
		udma__fmt_size_arg(rl.rlim_cur, memlock, sizeof(memlock));
	row.extra = BENCH_FIELDS(BENCH_RAW("root", geteuid() ? "false" : "true"),
				 BENCH_STR("memlock", memlock), BENCH_STR("thp", udma_thp_mode()));
	bench_report_row(&row);
}

/* What the run added to the hugepage pools, and whether all went back. */
static void hugepages_row(void)
{
	struct bench_row row = {
		.bench = BENCH, .method = "hugepages", .median_ns = NAN, .min_ns = NAN, .max_ns = NAN};

	row.extra = BENCH_FIELDS(BENCH_NUM("reserved_2M", (double)bench_pools[0].reserved),
				 BENCH_NUM("reserved_1G", (double)bench_pools[1].reserved),
				 BENCH_NUM("not_given_back_2M", (double)bench_pools[0].kept),
				 BENCH_NUM("not_given_back_1G", (double)bench_pools[1].kept));
	bench_report_row(&row);
}

int pin_run(const struct pin_args *a, char *why, size_t len)
{
	struct pin_bench b = {.a = a, .pagemap_fd = -1};
	size_t max = 0, n = 0, k = 0, total = 0;
	char sz[32];
	unsigned s;
	int rc;

	for (s = 0; s < a->nsizes; s++)
		max = a->sizes[s] > max ? a->sizes[s] : max;
	max = bench_round_up(max, UDMA_PAGE_1G) + 2 * UDMA_PAGE_4K;
	if ((rc = pin_state_init(max)) || (rc = udma__pagemap_open()) < 0) {
		snprintf(why, len, "%s", udma_last_error());
		pin_state_fini();
		return rc;
	}
	b.pagemap_fd = rc;
	b.entries = malloc(max / UDMA_PAGE_4K * sizeof(uint64_t));
	if (!b.entries) {
		snprintf(why, len, "out of memory for %zu pagemap entries", max / UDMA_PAGE_4K);
		rc = -ENOMEM;
		goto out;
	}
	bench_hugepages_restore_at_exit();
	bench_emit_machine(BENCH);
	setup_row(&b);
	for (k = 0; k < pin_nmethods; k++)
		total += selected(a, &pin_methods[k]);
	total *= a->nsizes;
	for (s = 0; s < a->nsizes; s++)
		for (k = 0; k < pin_nmethods; k++) {
			if (!selected(a, &pin_methods[k]))
				continue;
			bench_report_progress("udma bench pin: %s %s (%zu of %zu)", pin_methods[k].name,
					      udma__fmt_size_arg(a->sizes[s], sz, sizeof(sz)), ++n, total);
			run_method(&b, &pin_methods[k], a->sizes[s]);
		}
	rc = 0;
out:
	if (b.ctx)
		udma_ctx_destroy(b.ctx);
	if (b.dev)
		udma_dev_close(b.dev);
	if (b.dev_ctx)
		udma_ctx_destroy(b.dev_ctx);
	free(b.entries);
	close(b.pagemap_fd);
	pin_state_fini();
	bench_hugepages_restore();
	if (bench_pools[0].reserved || bench_pools[1].reserved)
		hugepages_row();
	return rc;
}
