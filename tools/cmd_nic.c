/* SPDX-License-Identifier: MIT */
/*
 * udma nic info | gen | recv | fwd: the arguments, the runs (threads, ports
 * opened and closed) and the reports. The frames are in nic/nic_frame.c, the
 * loops in nic/nic_run.c, the two sides in nic/nic_port_udma.c and
 * nic/nic_port_kernel.c.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "tools/cli.h"
#include "tools/nic/nic_tool.h"

static const char usage[] =
	"usage: udma nic info DEV [--json]\n"
	"       udma nic gen DEV [--rx DEV2 [--irq]] [--dst MAC] [--size N|MIN-MAX] [--count N]\n"
	"                    [--seconds S] [--rate PPS] [--batch N] [--json]\n"
	"       udma nic recv DEV [--count N] [--seconds S] [--irq] [--json]\n"
	"       udma nic fwd DEV1 DEV2 [--count N] [--seconds S] [--batch N] [--json]\n"
	"DEV: uio:ADDR (a PCI address, e.g. uio:0000:00:06.0; physical addresses, root) or\n"
	"vfio:ADDR (behind an IOMMU), driven by udma's NIC drivers (e1000e, virtio-net); or\n"
	"kernel:IFNAME, an interface of the kernel's driver through AF_PACKET (sendmmsg,\n"
	"recvmmsg), for comparison (gen, recv). One run takes uio: or vfio: devices, not both.\n"
	"gen sends UDP/IPv4 frames of --size bytes without FCS (60..1514, default 60; MIN-MAX\n"
	"cycles through the sizes) from DEV's MAC to --dst (default ff:ff:ff:ff:ff:ff), each with\n"
	"a random run id, a sequence number, its send time, a payload pattern and a real UDP\n"
	"checksum over them: --count frames and/or for --seconds (the first reached; default\n"
	"10 s), at --rate frames/s at most (default: as fast as DEV takes them), --batch frames\n"
	"per burst (default 32, at most 256). It fails when DEV takes no frame for 2 s. It reports\n"
	"frames/s and Gbit/s, of the frame bytes and on the wire (each frame plus 4 FCS, 8\n"
	"preamble and 12 gap bytes), over the time until the last frame left.\n"
	"--rx DEV2: receive on DEV2 meanwhile (in another thread), the MACs checked too, and\n"
	"report as recv does.\n"
	"recv receives until --count good frames and/or --seconds, or ^C, checks each and reports\n"
	"the frames intact (first arrivals), lost (numbers never seen), late (reordered: a first\n"
	"arrival after a higher number), dup (a number already received, or older than the last\n"
	"65536), bad (wrong lengths, checksum or payload), other_run (from another gen run than\n"
	"the first one seen: recv follows that one), others' (not from gen), and the latency from\n"
	"send to receive (one machine's clock): p50, p99.\n"
	"fwd forwards between two udma devices both ways until --count frames and/or --seconds,\n"
	"or ^C; frames the other side does not take are dropped and counted.\n"
	"--irq: the receiving udma device sleeps on its interrupt instead of polling (recv, gen\n"
	"--rx).\n"
	"^C (SIGINT) or SIGTERM ends a run early and cleanly: every packet back in its pool, the\n"
	"NICs reset and closed; what was done is reported; a second one kills.\n"
	"Exit 0 ok; 1 failure, a bad frame received or packets not back in their pool (leaked),\n"
	"reported with \"ok\": false; 2 usage error.\n";

#define DEFAULT_SECONDS 10
#define DEFAULT_BATCH	32
#define POOL_PACKETS	2048 /* per device: its RX ring, the other's TX ring, a burst, caches */
#define INFO_POOL	512
#define LINK_WAIT_MS	5000
#define INFO_LINK_MS	2000
#define LINGER_MS	500  /* after the last frame sent, for the last ones to arrive */
#define STALL_MS	2000 /* gen fails when the port takes no frame for this long */
#define WIRE_EXTRA	24u  /* FCS 4 + preamble and start delimiter 8 + inter-frame gap 12 */

enum verb { INFO, GEN, RECV, FWD };

struct args {
	enum verb verb;
	const char *dev[2]; /* DEV, and DEV2 (gen --rx, fwd) */
	struct gen_opts g;
	bool irq, count_given, time_given, dst_given;
};

static int parse_seconds(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	/* Digits and one point only: strtod would take hex, exponents, inf. */
	if (strspn(s, "0123456789.") != strlen(s) || strchr(s, '.') != strrchr(s, '.'))
		return -1;
	v = strtod(s, &end);
	if (*s < '0' || *s > '9' || *end || errno || !(v > 0) || v > 1e9)
		return -1;
	*ns = (uint64_t)(v * 1e9);
	return *ns ? 0 : -1;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Exactly six fields of two hex digits, colon-separated. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned i;

	if (strlen(s) != 17)
		return -1;
	for (i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int parse_size(const char *s, uint32_t *lo, uint32_t *hi)
{
	char buf[32], *dash;
	unsigned long long a, b;

	if (strlen(s) >= sizeof(buf)) /* cut short, it could read as another size */
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	dash = strchr(buf, '-');
	if (dash)
		*dash = '\0';
	if (cli_parse_uint(buf, NIC_FRAME_MAX, &a) || (dash && cli_parse_uint(dash + 1, NIC_FRAME_MAX, &b)))
		return -1;
	if (!dash)
		b = a;
	if (a < NIC_GEN_MIN_SIZE || b < a)
		return -1;
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 0;
}

static bool takes_value(const char *a)
{
	static const char *const opts[] = {"--rx",	"--dst",  "--size", "--count",
					   "--seconds", "--rate", "--batch"};
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(a, opts[i]))
			return true;
	return false;
}

static const char *verb_name(enum verb v)
{
	static const char *const names[] = {"info", "gen", "recv", "fwd"};

	return names[v];
}

static int check_spec(const struct cli *c, const struct args *a, const char *spec)
{
	/* sim: too: udma opens it, and nic_attach says it is no NIC. */
	bool udma = !strncmp(spec, "uio:", 4) || !strncmp(spec, "vfio:", 5) || !strncmp(spec, "sim:", 4);

	if (!udma && !port_is_kernel(spec))
		return cli_usage_error(c, usage,
				       "device '%s': give uio:ADDR or vfio:ADDR (a NIC's PCI address)%s",
				       spec, a->verb == GEN || a->verb == RECV ? ", or kernel:IFNAME" : "");
	if (!udma && (a->verb == INFO || a->verb == FWD))
		return cli_usage_error(c, usage,
				       "%s: '%s': %s takes udma devices only (uio:ADDR or vfio:ADDR); "
				       "for an interface of the kernel's, see ip -s link",
				       verb_name(a->verb), spec, verb_name(a->verb));
	return 0;
}

/* One option of the verb's; 0, or the exit status. */
static int parse_opt(const struct cli *c, struct args *a, const char *o, const char *v)
{
	bool gen = a->verb == GEN, run = a->verb != INFO;
	unsigned long long n;

	if (gen && !strcmp(o, "--rx")) {
		a->dev[1] = v;
	} else if (gen && !strcmp(o, "--dst")) {
		if (parse_mac(v, a->g.tmpl.dst))
			return cli_usage_error(c, usage,
					       "--dst %s: give a MAC address such as "
					       "52:54:00:00:07:00",
					       v);
		a->dst_given = true;
	} else if (gen && !strcmp(o, "--size")) {
		if (parse_size(v, &a->g.tmpl.size_min, &a->g.tmpl.size_max))
			return cli_usage_error(c, usage,
					       "--size %s: give frame bytes without FCS, %u..%u, or "
					       "MIN-MAX within them",
					       v, NIC_GEN_MIN_SIZE, NIC_FRAME_MAX);
	} else if (run && !strcmp(o, "--count")) {
		if (cli_parse_uint(v, UINT64_MAX, &n) || !n)
			return cli_usage_error(c, usage, "--count %s: give a number of frames, 1 or more", v);
		a->g.count = n;
		a->count_given = true;
	} else if (run && !strcmp(o, "--seconds")) {
		if (parse_seconds(v, &a->g.time_ns))
			return cli_usage_error(c, usage,
					       "--seconds %s: give a duration in seconds, "
					       "such as 10 or 0.5",
					       v);
		a->time_given = true;
	} else if (gen && !strcmp(o, "--rate")) {
		if (cli_parse_uint(v, UINT32_MAX, &n) || !n)
			return cli_usage_error(c, usage, "--rate %s: give frames per second, 1 or more", v);
		a->g.rate = n;
	} else if ((gen || a->verb == FWD) && !strcmp(o, "--batch")) {
		if (cli_parse_uint(v, NIC_BURST_MAX, &n) || !n)
			return cli_usage_error(c, usage, "--batch %s: give 1..%u frames per burst", v,
					       NIC_BURST_MAX);
		a->g.batch = (unsigned)n;
	} else if ((gen || a->verb == RECV) && !strcmp(o, "--irq")) {
		a->irq = true;
	} else {
		return cli_usage_error(c, usage, "%s: unknown option '%s'", verb_name(a->verb), o);
	}
	return 0;
}

/* 0 to go on, else the exit status (-1: help printed, exit 0). */
static int parse_args(const struct cli *c, int argc, char **argv, struct args *a)
{
	static const char *const verbs[] = {"info", "gen", "recv", "fwd"};
	unsigned ndev = 0, want, k;
	int i, rc;

	memset(a, 0, sizeof(*a));
	memset(a->g.tmpl.dst, 0xff, 6);
	a->g.tmpl.size_min = a->g.tmpl.size_max = NIC_GEN_MIN_SIZE;
	a->g.batch = DEFAULT_BATCH;
	a->g.stall_ms = STALL_MS;
	if (argc < 2)
		return cli_usage_error(c, usage, "no subcommand: give info, gen, recv or fwd");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return cli_help(c, usage) - 1;
	for (k = 0; k < 4 && strcmp(argv[1], verbs[k]); k++)
		;
	if (k == 4)
		return cli_usage_error(c, usage, "unknown subcommand '%s': give info, gen, recv or fwd",
				       argv[1]);
	a->verb = (enum verb)k;
	want = a->verb == FWD ? 2 : 1;
	for (i = 2; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--json"))
			continue;
		if (!strcmp(o, "-h") || !strcmp(o, "--help"))
			return cli_help(c, usage) - 1;
		if (o[0] != '-') {
			if (ndev == want)
				return cli_usage_error(c, usage, "%s takes %u device%s: '%s' is extra",
						       verb_name(a->verb), want, want > 1 ? "s" : "", o);
			a->dev[ndev++] = o;
			continue;
		}
		if (takes_value(o) && !v)
			return cli_usage_error(c, usage, "no value for %s", o);
		if ((rc = parse_opt(c, a, o, v)))
			return rc;
		if (takes_value(o))
			i++;
	}
	if (ndev < want)
		return cli_usage_error(c, usage, "%s: %s: give uio:ADDR or vfio:ADDR%s", verb_name(a->verb),
				       ndev ? "one device more" : "no device",
				       a->verb == GEN || a->verb == RECV ? " or kernel:IFNAME" : "");
	for (k = 0; k < 2; k++)
		if (a->dev[k] && (rc = check_spec(c, a, a->dev[k])))
			return rc;
	if (a->dev[1] && !strcmp(a->dev[0], a->dev[1]))
		return cli_usage_error(c, usage, "%s: %s twice: give two devices", verb_name(a->verb),
				       a->dev[0]);
	if (a->verb == GEN && a->irq && !a->dev[1])
		return cli_usage_error(c, usage,
				       "gen: --irq is for the receiving device: give --rx DEV2 too (gen "
				       "itself never waits for frames)");
	if (a->verb == GEN && !a->count_given && !a->time_given)
		a->g.time_ns = DEFAULT_SECONDS * 1000000000ull;
	return 0;
}

static double rate_of(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : 0;
}

static void mac_str(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Open the devices the verb needs; 0 or the exit status (nothing left open). */
static int open_ports(const struct cli *c, const struct args *a, struct nic_port *p, unsigned n,
		      bool wait_link)
{
	unsigned i;
	int rc;

	for (i = 0; i < n; i++) {
		struct port_opts o = {.pool = a->verb == INFO ? INFO_POOL : POOL_PACKETS,
				      /* the receiving side: gen's DEV2, recv's DEV */
				      .irq = a->irq && (a->verb == RECV || i == 1),
				      .rx = a->verb == RECV || i == 1};

		rc = port_open(&p[i], a->dev[i], &o);
		if (!rc && wait_link)
			rc = p[i].ops->wait_link(&p[i], LINK_WAIT_MS);
		if (rc) {
			rc = cli_fail(c, 1, -rc, "%s", port_error());
			ports_close(p, i + 1);
			return rc;
		}
	}
	return 0;
}

/* Frames/s between the first and the last frame received: ok - 1 intervals. */
static double rx_pps(const struct rx_result *r)
{
	return r->ok > 1 ? rate_of(r->ok - 1, r->last_ns - r->first_ns) : 0;
}

/* A latency in microseconds, or null when none was measured. */
static void json_lat(struct json *j, const char *key, const struct latency_hist *h, uint64_t ns)
{
	if (h->n)
		json_fixed(j, key, latency_us(ns), 1);
	else
		json_null(j, key);
}

static void json_rx(struct json *j, const char *key, const struct nic_port *p, const struct rx_result *r,
		    uint64_t lost, const struct port_counts *pc)
{
	json_object(j, key);
	json_str(j, "dev", p->spec);
	json_str(j, "side", p->ops->kind);
	json_str(j, "driver", p->driver);
	json_uint(j, "frames", r->frames);
	json_uint(j, "ok", r->ok);
	json_uint(j, "lost", lost);
	json_uint(j, "late", r->late);
	json_uint(j, "dup", r->dup);
	json_uint(j, "bad", r->bad);
	json_uint(j, "other_run", r->other_run);
	json_uint(j, "foreign", r->foreign);
	json_fixed(j, "seconds", (double)(r->last_ns - r->first_ns) / 1e9, 3);
	json_fixed(j, "pps", rx_pps(r), 0);
	json_lat(j, "p50_us", &r->lat, latency_hist_quantile(&r->lat, 0.5));
	json_lat(j, "p99_us", &r->lat, latency_hist_quantile(&r->lat, 0.99));
	json_lat(j, "max_us", &r->lat, r->lat.max);
	json_uint(j, "nic_rx_dropped", pc->rx_dropped);
	json_uint(j, "nic_rx_errors", pc->rx_errors);
	if (pc->has_sock_drops)
		json_uint(j, "socket_drops", pc->sock_drops);
	else
		json_null(j, "socket_drops"); /* udma: no socket, the NIC's drops are all */
	json_end(j);
}

static void text_rx(const struct nic_port *p, const struct rx_result *r, uint64_t lost,
		    const struct port_counts *pc)
{
	printf("  received   on %s %s (%s): %llu frames, %llu intact, %llu lost, %llu late, %llu dup, "
	       "%llu bad, %llu of another run, %llu others'\n",
	       p->ops->kind, p->spec, p->driver, (unsigned long long)r->frames, (unsigned long long)r->ok,
	       (unsigned long long)lost, (unsigned long long)r->late, (unsigned long long)r->dup,
	       (unsigned long long)r->bad, (unsigned long long)r->other_run, (unsigned long long)r->foreign);
	printf("  rx rate    %.0f frames/s over %.3f s; the NIC dropped %llu, flagged %llu", rx_pps(r),
	       (double)(r->last_ns - r->first_ns) / 1e9, (unsigned long long)pc->rx_dropped,
	       (unsigned long long)pc->rx_errors);
	if (pc->has_sock_drops)
		printf("; the socket dropped %llu", (unsigned long long)pc->sock_drops);
	printf("\n");
	if (r->lat.n)
		printf("  latency us p50 %.1f  p99 %.1f  max %.1f\n",
		       latency_us(latency_hist_quantile(&r->lat, 0.5)),
		       latency_us(latency_hist_quantile(&r->lat, 0.99)), latency_us(r->lat.max));
	else
		printf("  latency    none measured (no frame of ours received)\n");
}

/* Why a run that went through still fails (bad frames, leaked packets):
 * written to why, and its errno; 0 when it does not. */
static int run_verdict(const struct rx_result *r, unsigned leaked, char *why, size_t len)
{
	why[0] = '\0';
	if (r && r->bad)
		snprintf(why, len,
			 "%llu bad frame%s received (wrong lengths, checksum, MACs or payload: "
			 "corrupted on the way)%s",
			 (unsigned long long)r->bad, r->bad > 1 ? "s" : "", leaked ? "; packets leaked" : "");
	else if (leaked)
		snprintf(why, len, "%u packet%s not back in their pool at close (leaked)", leaked,
			 leaked > 1 ? "s" : "");
	return why[0] ? EIO : 0;
}

/* Start the report: {"ok": true, or {"ok": false, "error": why, "errno": err. */
static void json_begin(struct json *j, const char *why, int err)
{
	json_start(j, stdout);
	if (!err) {
		cli_json_ok(j);
		return;
	}
	json_object(j, NULL);
	json_bool(j, "ok", false);
	json_str(j, "error", why);
	json_uint(j, "errno", (unsigned)err);
}

/* After the report: the failure's one line on stderr; the exit status. */
static int verdict_exit(const struct cli *c, const char *why, int err)
{
	if (!err)
		return 0;
	if (c->json)
		fprintf(stderr, "%s: %s\n", c->name, why);
	else
		cli_fail(c, 1, err, "%s", why);
	return 1;
}

struct rx_thread {
	struct nic_port *p;
	struct recv_opts o;
	struct rx_result r;
};

static void *rx_main(void *arg)
{
	struct rx_thread *t = arg;

	run_recv(t->p, &t->o, &t->r);
	return NULL;
}

static int report_gen(const struct cli *c, const struct args *a, struct nic_port *p,
		      const struct tx_result *t, const struct port_counts *pc, const struct rx_thread *rx,
		      const struct port_counts *rpc, unsigned leaked)
{
	uint64_t ns = t->end_ns - t->start_ns;
	double pps = rate_of(t->sent, ns), gbps = (double)t->bytes * 8 / (ns ? (double)ns : 1);
	double wire = (double)(t->bytes + t->sent * WIRE_EXTRA) * 8 / (ns ? (double)ns : 1);
	uint64_t lost = rx ? rx_lost(&rx->r, !run_stopped_by(), t->sent) : 0;
	char src[18], dst[18], why[256];
	int err = run_verdict(rx ? &rx->r : NULL, leaked, why, sizeof(why));
	struct json j;

	mac_str(p->mac, src);
	mac_str(a->g.tmpl.dst, dst);
	if (!c->json) {
		printf("udma nic gen: %s %s (%s %s) -> %s, %u", p->ops->kind, p->spec, p->driver, src, dst,
		       a->g.tmpl.size_min);
		if (a->g.tmpl.size_max != a->g.tmpl.size_min)
			printf("-%u", a->g.tmpl.size_max);
		printf(" bytes, batch %u", a->g.batch);
		if (a->g.rate)
			printf(", at most %llu frames/s", (unsigned long long)a->g.rate);
		printf("%s%s\n", run_stopped_by() ? ", stopped by " : "",
		       run_stopped_by() ? run_stopped_by() : "");
		printf("  sent       %llu frames in %.3f s: %.0f frames/s\n", (unsigned long long)t->sent,
		       (double)ns / 1e9, pps);
		printf("  Gbit/s     %.3f of frames (no FCS), %.3f on the wire (+%u bytes a frame)\n", gbps,
		       wire, WIRE_EXTRA);
		printf("  tx         %llu bursts not taken whole (ring full), %llu errors\n",
		       (unsigned long long)t->retries, (unsigned long long)pc->tx_errors);
		if (rx)
			text_rx(rx->p, &rx->r, lost, rpc);
		if (leaked)
			printf("  leaked     %u packets not back in their pool\n", leaked);
		return verdict_exit(c, why, err);
	}
	json_begin(&j, why, err);
	json_str(&j, "side", p->ops->kind);
	json_str(&j, "dev", p->spec);
	json_str(&j, "driver", p->driver);
	json_str(&j, "src", src);
	json_str(&j, "dst", dst);
	json_uint(&j, "size_min", a->g.tmpl.size_min);
	json_uint(&j, "size_max", a->g.tmpl.size_max);
	json_uint(&j, "batch", a->g.batch);
	json_uint(&j, "rate_limit", a->g.rate);
	json_str(&j, "rx_wait", rx ? (rx->p->irq ? "irq" : "poll") : NULL);
	json_uint(&j, "sent", t->sent);
	json_uint(&j, "bytes", t->bytes);
	json_fixed(&j, "seconds", (double)ns / 1e9, 3);
	json_fixed(&j, "pps", pps, 0);
	json_fixed(&j, "gbps", gbps, 4);
	json_fixed(&j, "gbps_wire", wire, 4);
	json_uint(&j, "retries", t->retries);
	json_uint(&j, "tx_errors", pc->tx_errors);
	json_uint(&j, "run_id", a->g.tmpl.run);
	json_uint(&j, "leaked", leaked);
	if (rx)
		json_rx(&j, "rx", rx->p, &rx->r, lost, rpc);
	if (run_stopped_by())
		json_str(&j, "stopped_by", run_stopped_by());
	json_end(&j);
	json_finish(&j);
	return verdict_exit(c, why, err);
}

static int do_gen(const struct cli *c, struct args *a)
{
	struct nic_port p[2];
	struct rx_thread *rx = NULL;
	struct tx_result *t = calloc(1, sizeof(*t));
	struct port_counts pc = {0}, rpc = {0};
	pthread_t tid;
	unsigned n = a->dev[1] ? 2 : 1, leaked;
	int stop_rx = 0, rc;

	if (!t || (n == 2 && !(rx = calloc(1, sizeof(*rx))))) {
		free(t);
		return cli_fail(c, 1, ENOMEM, "out of memory");
	}
	if (getrandom(&a->g.tmpl.run, sizeof(a->g.tmpl.run), 0) != sizeof(a->g.tmpl.run))
		a->g.tmpl.run = (uint32_t)run_now_ns(); /* no entropy yet (early boot): the clock */
	if ((rc = open_ports(c, a, p, n, true)))
		goto out;
	memcpy(a->g.tmpl.src, p[0].mac, 6);
	if (rx) {
		rx->p = &p[1];
		rx->o = (struct recv_opts){.stop_rx = &stop_rx, .linger_ms = LINGER_MS, .gen = &a->g.tmpl};
		if ((rc = pthread_create(&tid, NULL, rx_main, rx))) {
			rc = cli_fail(c, 1, rc, "cannot start the receiving thread: %s", strerror(rc));
			goto close;
		}
	}
	run_gen(&p[0], &a->g, t);
	if (rx) {
		__atomic_store_n(&stop_rx, 1, __ATOMIC_RELEASE);
		pthread_join(tid, NULL);
	}
	if (!t->err && (rc = p[0].ops->counts(&p[0], &pc)))
		snprintf(t->why, sizeof(t->why), "%s", port_error());
	if (!t->err && !rc && rx && (rc = p[1].ops->counts(&p[1], &rpc)))
		snprintf(t->why, sizeof(t->why), "%s", port_error());
	leaked = ports_close(p, n);
	if (t->err || rc)
		rc = cli_fail(c, 1, t->err ? -t->err : -rc, "%s (after %llu frames)", t->why,
			      (unsigned long long)t->sent);
	else if (rx && rx->r.err)
		rc = cli_fail(c, 1, -rx->r.err, "%s", rx->r.why);
	else
		rc = report_gen(c, a, &p[0], t, &pc, rx, &rpc, leaked);
	goto out;
close:
	ports_close(p, n);
out:
	free(t);
	free(rx);
	return rc;
}

static int do_recv(const struct cli *c, struct args *a)
{
	struct nic_port p;
	struct recv_opts o = {.count = a->g.count, .time_ns = a->g.time_ns};
	struct rx_result *r = calloc(1, sizeof(*r));
	struct port_counts pc = {0};
	uint64_t lost;
	struct json j;
	char why[256];
	unsigned leaked;
	int rc, err;

	if (!r)
		return cli_fail(c, 1, ENOMEM, "out of memory");
	if ((rc = open_ports(c, a, &p, 1, true))) {
		free(r);
		return rc;
	}
	run_recv(&p, &o, r);
	if (!r->err && (rc = p.ops->counts(&p, &pc)) < 0) {
		r->err = rc;
		snprintf(r->why, sizeof(r->why), "%s", port_error());
	}
	lost = rx_lost(r, false, 0);
	leaked = ports_close(&p, 1);
	err = run_verdict(r, leaked, why, sizeof(why));
	if (r->err) {
		rc = cli_fail(c, 1, -r->err, "%s (after %llu frames)", r->why, (unsigned long long)r->frames);
	} else if (c->json) {
		json_begin(&j, why, err);
		json_rx(&j, "rx", &p, r, lost, &pc);
		if (r->seen)
			json_uint(&j, "run_id", r->run);
		else
			json_null(&j, "run_id"); /* no frame of ours came */
		json_uint(&j, "leaked", leaked);
		json_str(&j, "rx_wait", p.irq ? "irq" : "poll");
		if (run_stopped_by())
			json_str(&j, "stopped_by", run_stopped_by());
		json_end(&j);
		json_finish(&j);
		rc = verdict_exit(c, why, err);
	} else {
		printf("udma nic recv: %s %s (%s), %s%s%s\n", p.ops->kind, p.spec, p.driver,
		       p.irq ? "irq" : "poll", run_stopped_by() ? ", stopped by " : "",
		       run_stopped_by() ? run_stopped_by() : "");
		text_rx(&p, r, lost, &pc);
		rc = verdict_exit(c, why, err);
	}
	free(r);
	return rc;
}

static int do_fwd(const struct cli *c, struct args *a)
{
	struct nic_port p[2], *pp[2] = {&p[0], &p[1]};
	struct fwd_result r;
	uint64_t ns;
	struct json j;
	char why[256];
	unsigned d, leaked;
	int rc, err;

	if ((rc = open_ports(c, a, p, 2, true)))
		return rc;
	run_fwd(pp, a->g.batch, a->g.count, a->g.time_ns, &r);
	ns = r.end_ns - r.start_ns;
	leaked = ports_close(p, 2);
	err = run_verdict(NULL, leaked, why, sizeof(why));
	if (r.err) {
		rc = cli_fail(c, 1, -r.err, "%s", r.why);
	} else if (c->json) {
		json_begin(&j, why, err);
		json_uint(&j, "leaked", leaked);
		json_fixed(&j, "seconds", (double)ns / 1e9, 3);
		json_uint(&j, "batch", a->g.batch);
		json_array(&j, "directions");
		for (d = 0; d < 2; d++) {
			json_object(&j, NULL);
			json_str(&j, "from", p[d].spec);
			json_str(&j, "to", p[1 - d].spec);
			json_uint(&j, "rx", r.dir[d].rx);
			json_uint(&j, "tx", r.dir[d].tx);
			json_uint(&j, "drops", r.dir[d].drops);
			json_fixed(&j, "pps", rate_of(r.dir[d].tx, ns), 0);
			json_fixed(&j, "gbps", (double)r.dir[d].bytes * 8 / (ns ? (double)ns : 1), 4);
			json_end(&j);
		}
		json_end(&j);
		if (run_stopped_by())
			json_str(&j, "stopped_by", run_stopped_by());
		json_end(&j);
		json_finish(&j);
		rc = verdict_exit(c, why, err);
	} else {
		printf("udma nic fwd: %s <-> %s, batch %u, %.3f s%s%s\n", p[0].spec, p[1].spec, a->g.batch,
		       (double)ns / 1e9, run_stopped_by() ? ", stopped by " : "",
		       run_stopped_by() ? run_stopped_by() : "");
		for (d = 0; d < 2; d++)
			printf("  %s -> %s: %llu received, %llu forwarded (%.0f frames/s), %llu dropped\n",
			       p[d].spec, p[1 - d].spec, (unsigned long long)r.dir[d].rx,
			       (unsigned long long)r.dir[d].tx, rate_of(r.dir[d].tx, ns),
			       (unsigned long long)r.dir[d].drops);
		rc = verdict_exit(c, why, err);
	}
	return rc;
}

static int do_info(const struct cli *c, struct args *a)
{
	struct nic_port p;
	const struct nic_info *ni;
	struct nic_link l = {0};
	struct nic_stats s = {0};
	char mac[18];
	struct json j;
	int rc, link_rc;

	if ((rc = open_ports(c, a, &p, 1, false)))
		return rc;
	ni = nic_info(p.nic);
	link_rc = nic_wait_link(p.nic, INFO_LINK_MS);
	if ((link_rc && link_rc != -ETIMEDOUT) || (rc = nic_link(p.nic, &l)) || (rc = nic_stats(p.nic, &s))) {
		rc = cli_fail(c, 1, -(rc ? rc : link_rc), "%s: %s", p.spec, nic_last_error());
		ports_close(&p, 1);
		return rc;
	}
	mac_str(ni->mac, mac);
	if (!c->json) {
		printf("%s: %s %04x:%04x, MAC %s\n", p.spec, ni->driver, ni->vendor, ni->device, mac);
		printf("  link       %s", l.up ? "up" : "down");
		if (l.up && l.speed_mbps)
			printf(", %u Mb/s %s duplex", l.speed_mbps, l.full_duplex ? "full" : "half");
		printf("\n  queues     %u; RX ring %u, TX ring %u descriptors\n", ni->queues, ni->rx_ring,
		       ni->tx_ring);
		printf("  features   0x%016llx\n", (unsigned long long)ni->features);
		printf("  counts     rx %llu (%llu bytes), errors %llu, missed %llu, no buffer %llu; tx %llu "
		       "(%llu bytes), errors %llu\n",
		       (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes,
		       (unsigned long long)s.rx_errors, (unsigned long long)s.rx_missed,
		       (unsigned long long)s.rx_nobuf, (unsigned long long)s.tx_packets,
		       (unsigned long long)s.tx_bytes, (unsigned long long)s.tx_errors);
	} else {
		json_start(&j, stdout);
		cli_json_ok(&j);
		json_str(&j, "dev", p.spec);
		json_str(&j, "driver", ni->driver);
		json_uint(&j, "vendor", ni->vendor);
		json_uint(&j, "device", ni->device);
		json_str(&j, "mac", mac);
		json_object(&j, "link");
		json_bool(&j, "up", l.up);
		json_uint(&j, "speed_mbps", l.speed_mbps);
		json_bool(&j, "full_duplex", l.full_duplex);
		json_end(&j);
		json_uint(&j, "queues", ni->queues);
		json_uint(&j, "rx_ring", ni->rx_ring);
		json_uint(&j, "tx_ring", ni->tx_ring);
		json_hex(&j, "features", ni->features);
		json_object(&j, "stats");
		json_uint(&j, "rx_packets", s.rx_packets);
		json_uint(&j, "rx_bytes", s.rx_bytes);
		json_uint(&j, "rx_errors", s.rx_errors);
		json_uint(&j, "rx_missed", s.rx_missed);
		json_uint(&j, "rx_nobuf", s.rx_nobuf);
		json_uint(&j, "tx_packets", s.tx_packets);
		json_uint(&j, "tx_bytes", s.tx_bytes);
		json_uint(&j, "tx_errors", s.tx_errors);
		json_end(&j);
		json_end(&j);
		json_finish(&j);
	}
	ports_close(&p, 1);
	return 0;
}

int cmd_nic(const struct cli *c, int argc, char **argv)
{
	struct args a;
	int rc = parse_args(c, argc, argv, &a);

	if (rc)
		return rc < 0 ? 0 : rc;
	run_catch_stop_signals();
	switch (a.verb) {
	case INFO: return do_info(c, &a);
	case GEN: return do_gen(c, &a);
	case RECV: return do_recv(c, &a);
	case FWD: break;
	}
	return do_fwd(c, &a);
}
