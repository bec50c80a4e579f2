# udma: userspace DMA memory. `make` builds, `make check` tests, `make run` demos.
# SAN=address,undefined (or thread) builds everything with sanitizers under build/san-*/.
# CROSS=aarch64-linux-gnu- (or arm-linux-gnueabihf-) cross-builds under build/aarch64/ (build/armhf/).

PREFIX   ?= /usr/local
DESTDIR  ?=
# The version is written once, in include/udma/version.h; so is the soname's
# rule: before 1.0 a minor release may change the ABI, so the soname carries
# MAJOR.MINOR (libudma.so.0.3), from 1.0 on MAJOR alone.
version_part = $(shell sed -n 's/^.define UDMA_VERSION_$(1)[[:space:]]*\([0-9][0-9]*\)$$/\1/p' include/udma/version.h)
V_MAJOR  := $(call version_part,MAJOR)
V_MINOR  := $(call version_part,MINOR)
V_PATCH  := $(call version_part,PATCH)
ifeq ($(V_MAJOR),)
$(error include/udma/version.h: no UDMA_VERSION_MAJOR number)
endif
VERSION  := $(V_MAJOR).$(V_MINOR).$(V_PATCH)
SOVER    := $(if $(filter 0,$(V_MAJOR)),0.$(V_MINOR),$(V_MAJOR))
OBJCOPY  ?= objcopy
PKG_CONFIG ?= pkg-config

SAN      ?=
comma    := ,
ifeq ($(SAN),)
B        := build
SANFLAGS :=
else
B        := build/san-$(subst $(comma),-,$(SAN))
SANFLAGS := -fsanitize=$(SAN) -fno-omit-frame-pointer
endif

# A cross build takes the compiler and binutils of the prefix (CC=... on the
# command line still wins) and the target's pkg-config: the Debian wrapper
# <triplet>-pkg-config if installed, else pkg-config reading only the
# target's .pc files, so no host flag (libdpdk's) reaches an ARM binary. The
# directory is named after the Debian architecture (armhf for the gnueabihf
# triplet, else the triplet's first part). No DPDK in cross builds.
CROSS    ?=
ifneq ($(CROSS),)
ifneq ($(SAN),)
$(error SAN=$(SAN) with CROSS=$(CROSS): sanitizer builds are host only (the ARM tests run under qemu-user, which ASan and TSan do not support); drop one of the two)
endif
TRIPLET  := $(CROSS:%-=%)
ARCH     := $(if $(filter arm-%hf,$(TRIPLET)),armhf,$(firstword $(subst -, ,$(TRIPLET))))
B        := build/$(ARCH)
CC       := $(CROSS)gcc
LD       := $(CROSS)ld
AR       := $(CROSS)ar
OBJCOPY  := $(CROSS)objcopy
PKG_CONFIG := $(or $(shell command -v $(CROSS)pkg-config 2>/dev/null),\
	PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config)
endif

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# Internal headers are named from the top of the tree ("lib/mem/mem.h"), so an
# #include says which layer it reaches into; `make lint` checks the direction.
# 64-bit off_t on 32-bit targets too (armhf): file offsets of regions and
# pagemap reads pass 4 GiB; a no-op on 64-bit ones.
BASE     := -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -I. -pthread $(WARN) $(SANFLAGS)
LIBS     := -lnuma -lhugetlbfs -lm -pthread
LDFLAGS  += $(SANFLAGS)

# The library, one folder per layer (docs/design.md). The simulated device's
# model runs inside it for in-process devices; the protocol code talks to
# udma-simd for out-of-process ones.
LIB_SRC  := $(wildcard lib/*/*.c) $(wildcard sim/simdev_model*.c) sim/simd_proto.c
LIB_HDR  := $(wildcard lib/*/*.h sim/*.h)
LIB_PIC  := $(LIB_SRC:%.c=$(B)/obj/pic/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/static/%.o)
# The reference driver for the simulated device and the helper that starts
# udma-simd, linked into tests, benches and the CLI.
DRV_SRC  := drivers/simdrv/simdrv.c sim/simd_spawn.c
DRV_HDR  := drivers/simdrv/simdrv.h sim/simd_spawn.h sim/simdev_regs.h
# The NVMe driver, for the CLI's `udma nvme` and the guest tests (tests/vm/).
NVME_SRC := $(wildcard drivers/nvme/*.c)
NVME_HDR := $(wildcard drivers/nvme/*.h)
# The NIC drivers (e1000e, virtio-net), for the CLI's `udma nic` and the guest tests.
NIC_SRC  := $(wildcard drivers/nic/*.c)
NIC_HDR  := $(wildcard drivers/nic/*.h)
# udma-simd: the device model in a process of its own (no libudma inside).
SIMD_SRC := $(wildcard sim/simdev_model*.c) sim/simd_proto.c sim/simd_server.c sim/udma-simd.c
TOOL_SRC := $(wildcard tools/*.c tools/*/*.c)
# What the NIC tool's host tests build on: its header and every header it
# includes, and the shared clock, stop flag and histogram.
NIC_TOOL_HDR    := tools/nic/nic_tool.h tools/latency_hist.h tools/run_stop.h tools/dev_spec.h $(NIC_HDR)
NIC_TOOL_SHARED := tools/latency_hist.c tools/run_stop.c tools/dev_spec.c
TOOL_OBJ := $(TOOL_SRC:%.c=$(B)/obj/%.o)
SUPPORT  := tests/support/helpers.c tests/support/peer.c tests/support/qemu_user.c
TEST_SRC := $(wildcard tests/test_*.c)
# White-box tests include the library's internal headers to call its internals
# (udma__*, simd_*): they link the plain objects; the others link libudma.a, as
# a program does.
WHITEBOX := $(shell grep -l -E '^\#include "(lib/|sim/simd_proto|sim/simdev_model)' $(TEST_SRC))
udma_lib_for = $(if $(filter $(1),$(WHITEBOX)),$(B)/libudma_internal.a,$(B)/libudma.a)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
BENCH_SRC:= $(wildcard bench/bench_*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
# The benches the udma command runs, compiled into it (-DBENCH_IN_CLI).
BENCH_CLI_OBJ := $(foreach n,region iova pool heap ring dev,$(B)/obj/bench-cli/bench_$(n).o)
HEADERS  := $(wildcard include/udma/*.h)

SO       := $(B)/libudma.so.$(SOVER)
CLI      := $(B)/udma
SIMD     := $(B)/udma-simd

# Benches compare with DPDK in the same run when libdpdk-dev is installed
# (`make bench` and `make check` install it); its headers are -isystem so our
# warnings stay ours. With it, contrib/dpdk is built too: the mempool ops
# driver (a plugin EAL loads with -d; EAL refuses one under a world-writable
# directory such as /tmp) and the external-memory check.
DPDK_CFLAGS := $(if $(CROSS),,$(shell $(PKG_CONFIG) --cflags libdpdk 2>/dev/null | sed 's/-I/-isystem /g'))
DPDK_LIBS   := $(if $(CROSS),,$(shell $(PKG_CONFIG) --libs libdpdk 2>/dev/null))
ifneq ($(DPDK_LIBS),)
DPDK_CFLAGS += -DHAVE_DPDK
DPDK_OUT    := $(B)/dpdk/librte_mempool_udma.so $(B)/dpdk/dpdk_extmem
endif

.PHONY: all tests deps check run install uninstall format lint bench clean
all: $(B)/libudma.so $(B)/libudma.a $(CLI) $(SIMD) $(TESTS) $(BENCHES) $(DPDK_OUT)
# The test programs and the udma-simd they start (what tests/cross.sh runs).
tests: $(TESTS) $(SIMD)

deps:
	@tools/install-deps.sh

$(B)/obj/pic/%.o: %.c $(HEADERS) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<
# No LTO in the static library's objects: objcopy --localize-hidden (below)
# cannot see into LTO bytecode, so its internal names would stay global.
STATIC_CFLAGS := $(filter-out -flto%,$(CFLAGS))
$(B)/obj/static/%.o: %.c $(HEADERS) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(STATIC_CFLAGS) -fvisibility=hidden -c -o $@ $<
$(B)/obj/tools/%.o: tools/%.c $(HEADERS) $(LIB_HDR) $(DRV_HDR) $(NVME_HDR) $(NIC_HDR) $(wildcard tools/*.h tools/*/*.h) \
		bench/bench_util.h
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) -c -o $@ $<

$(B)/libudma.map: lib/libudma.map include/udma/version.h
	@mkdir -p $(@D)
	sed 's/@SOVER@/$(SOVER)/' lib/libudma.map >$@
$(SO): $(LIB_PIC) $(B)/libudma.map
	$(CC) -shared -Wl,-soname,libudma.so.$(SOVER) -Wl,--version-script=$(B)/libudma.map \
		-Wl,-z,defs -o $@ $(LIB_PIC) $(LDFLAGS) $(LIBS)
$(B)/libudma.so: $(SO)
	ln -sf libudma.so.$(SOVER) $@
# libudma.a holds one object, the whole library with its hidden symbols made
# local: in an archive of the plain objects every internal helper would be a
# global symbol a program could collide with or call.
$(B)/obj/libudma.o: $(LIB_OBJ)
	$(LD) -r -o $@.tmp $^
	$(OBJCOPY) --localize-hidden $@.tmp $@ && rm -f $@.tmp
$(B)/libudma.a: $(B)/obj/libudma.o
	rm -f $@ && $(AR) rcs $@ $^
$(B)/libudma_internal.a: $(LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

# The CLI links the library statically: one self-contained binary to copy to a
# board. It shares the library's internal helpers (size formatting, pagemap
# decoding), so it links the internal archive. $(B)/vm/udma is the same CLI
# linked -static, for the QEMU guests, which have no shared libraries.
$(CLI) $(B)/vm/udma: $(TOOL_OBJ) $(BENCH_CLI_OBJ) $(DRV_SRC) $(NVME_SRC) $(NIC_SRC) $(DRV_HDR) $(NVME_HDR) $(NIC_HDR) \
		$(B)/libudma_internal.a
	@mkdir -p $(@D)
	$(CC) $(if $(filter $(B)/vm/%,$@),-static) $(BASE) $(CFLAGS) -o $@ $(filter-out %.h,$^) $(LDFLAGS) $(LIBS)

$(SIMD): $(SIMD_SRC) $(wildcard sim/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) -o $@ $(SIMD_SRC) $(LDFLAGS) -pthread

# Tests link a static library so --wrap can reach the library's own syscalls.
$(B)/tests/test_inject: tests/test_inject.c $(SUPPORT) tests/support/wrap_syscalls.c $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(call udma_lib_for,$<) $(LDFLAGS) \
		$(foreach f,mmap mmap64 mlock2 mbind pread pread64 open open64 memfd_create madvise ftruncate \
			ftruncate64 write syscall,-Wl,--wrap=$(f)) \
		$(LIBS) -lcmocka
# Large DMA buffers without adjacent hugepages: the pagemap reads are wrapped.
$(B)/tests/test_large_dma: tests/test_large_dma.c $(SUPPORT) $(B)/libudma_internal.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma_internal.a $(LDFLAGS) \
		-Wl,--wrap=udma__pagemap_read $(LIBS) -lcmocka
# The NVMe driver against a register file in memory: udma_dev_bar is wrapped.
$(B)/tests/test_nvme_fake: tests/test_nvme_fake.c $(NVME_SRC) $(NVME_HDR) $(SUPPORT) $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) -Wl,--wrap=udma_dev_bar \
		$(LIBS) -lcmocka
# The NIC drivers' common layer on the host: udma_dev_config_read is wrapped.
$(B)/tests/test_nic_api: tests/test_nic_api.c $(NIC_SRC) $(NIC_HDR) $(SUPPORT) $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) \
		-Wl,--wrap=udma_dev_config_read $(LIBS) -lcmocka
# The virtio-net driver against devices in memory: config space, BARs and
# port I/O are wrapped, and udma_zmalloc to find its rings.
$(B)/tests/test_virtio_fake: tests/test_virtio_fake.c $(NIC_SRC) $(NIC_HDR) $(SUPPORT) $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) \
		$(foreach f,udma_dev_bar udma_dev_config_read udma_dev_io_read udma_dev_io_write udma_zmalloc \
			udma_dev_irq_fd virtio_pci_reset virtio_pci_config_gen,-Wl,--wrap=$(f)) \
		$(LIBS) -lcmocka
# The udma command's latency histogram (nvme bench, nic recv), linked from the command's source.
$(B)/tests/test_nvme_hist: tests/test_nvme_hist.c tools/latency_hist.c tools/latency_hist.h $(SUPPORT) \
		$(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) $(LIBS) -lcmocka
# The plot of udma bench (tick labels, escaping), linked from the command's source.
$(B)/tests/test_bench_plot: tests/test_bench_plot.c tools/bench/bench_plot.c tools/bench/bench_tool.h \
		bench/bench_util.h $(SUPPORT) $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) $(LIBS) -lcmocka
# PA-mode pins against the kernel's page moves, moved by the command's own helper.
$(B)/tests/test_longterm_pin: tests/test_longterm_pin.c tools/bench/page_move.c tools/bench/page_move.h \
		$(SUPPORT) $(B)/libudma_internal.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma_internal.a $(LDFLAGS) $(LIBS) -lcmocka
# The udma command's NIC test frames, linked from the command's source.
$(B)/tests/test_nic_frame: tests/test_nic_frame.c tools/nic/nic_frame.c $(NIC_TOOL_HDR) $(SUPPORT) \
		$(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) $(LIBS) -lcmocka
# The udma command's NIC loops against a port in memory (the real ports and drivers linked, unused).
$(B)/tests/test_nic_run: tests/test_nic_run.c $(wildcard tools/nic/*.c) $(NIC_TOOL_SHARED) \
		$(NIC_SRC) $(NIC_TOOL_HDR) $(SUPPORT) $(B)/libudma.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LDFLAGS) $(LIBS) -lcmocka
$(B)/tests/%: tests/%.c $(SUPPORT) $(wildcard tests/support/*.h) $(DRV_SRC) $(DRV_HDR) $(B)/libudma.a \
		$(B)/libudma_internal.a | $(B)/tests
	$(CC) $(BASE) $(CFLAGS) -o $@ $< $(SUPPORT) $(DRV_SRC) $(call udma_lib_for,$<) $(LDFLAGS) $(LIBS) -lcmocka
# The plugin links libudma.so from the directory above it (or the installed one).
$(B)/dpdk/librte_mempool_udma.so: contrib/dpdk/udma_mempool.c $(HEADERS) $(B)/libudma.so
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) $(DPDK_CFLAGS) -fPIC -shared -Wl,-z,defs -o $@ $< -L$(B) -ludma \
		-Wl,-rpath,'$$ORIGIN/..' $(LDFLAGS) $(DPDK_LIBS) -pthread
$(B)/dpdk/dpdk_extmem: contrib/dpdk/dpdk_extmem.c $(SUPPORT) $(wildcard tests/support/*.h) $(B)/libudma.a
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) $(DPDK_CFLAGS) -o $@ $< $(SUPPORT) $(B)/libudma.a $(LDFLAGS) $(DPDK_LIBS) $(LIBS) -lcmocka
# The benches link the internal archive: bench_region times the library's
# long-term pin (udma__longterm_pin) on its own.
$(B)/bench/%: bench/%.c bench/bench_util.h $(DRV_SRC) $(DRV_HDR) $(HEADERS) $(LIB_HDR) \
		$(B)/libudma_internal.a | $(B)/bench
	$(CC) $(BASE) $(CFLAGS) $(DPDK_CFLAGS) -o $@ $< $(DRV_SRC) $(B)/libudma_internal.a $(LDFLAGS) \
		$(DPDK_LIBS) $(LIBS)
# The same programs inside the udma command (`udma bench region|iova|pool|heap|ring|dev`):
# each main is bench_NAME_main, each row goes to the command's report. Never
# with DPDK: the side-by-side figures stay in the programs above.
$(B)/obj/bench-cli/%.o: bench/%.c bench/bench_util.h $(HEADERS) $(LIB_HDR) $(DRV_HDR)
	@mkdir -p $(@D)
	$(CC) $(BASE) $(CFLAGS) -DBENCH_IN_CLI -c -o $@ $<

$(B)/tests $(B)/bench:
	mkdir -p $@

check: deps
	@tools/install-deps.sh dpdk || echo "udma: DPDK not installed: the dpdk tests skip"
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(B) $(TESTS)

# The demo: the simulated device as a process, a NIC loopback and a block
# store checked byte for byte. As root with no 2 MiB page free, reserve 32 MiB
# of them first (the demo uses 10) and say so; without any it runs on 4 KiB
# pages and says that. Fails if the demo does.
run: deps
	@$(MAKE) --no-print-directory $(CLI) $(SIMD)
	@f=/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages; \
	if [ "$$(id -u)" = 0 ] && [ "$$(cat $$f 2>/dev/null || echo none)" = 0 ] && \
		$(CLI) hugepages --reserve 32M >/dev/null; then \
		echo "make run: reserved 32 MiB of 2 MiB hugepages (give them back: $(CLI) hugepages --release)"; \
	fi
	@$(CLI) demo
	@echo "more: $(CLI) info (this machine and DMA), $(CLI) layout --demo (where udma memory lives)"

bench: deps
	@tools/install-deps.sh bench
	@$(MAKE) --no-print-directory all
	@for b in $(BENCHES); do $$b; done

# udma.pc is written by the install itself, from this install's PREFIX: a
# file built beforehand would keep whatever PREFIX an earlier make had.
install: $(B)/libudma.so $(B)/libudma.a $(CLI) udma.pc.in
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/udma \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/libudma.so.$(VERSION)
	ln -sf libudma.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libudma.so.$(SOVER)
	ln -sf libudma.so.$(SOVER) $(DESTDIR)$(PREFIX)/lib/libudma.so
	install -m 644 $(B)/libudma.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/udma/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' udma.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/udma.pc
	chmod 644 $(DESTDIR)$(PREFIX)/lib/pkgconfig/udma.pc
	install -m 755 $(CLI) $(SIMD) $(DESTDIR)$(PREFIX)/bin/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libudma.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/udma.pc \
		$(DESTDIR)$(PREFIX)/bin/udma $(DESTDIR)$(PREFIX)/bin/udma-simd
	rm -rf $(DESTDIR)$(PREFIX)/include/udma

FORMAT_SRC := $(wildcard lib/*/*.[ch] include/udma/*.h tools/*.[ch] tools/*/*.[ch] tests/*.[ch] tests/*/*.[ch] \
		bench/*.[ch] sim/*.[ch] drivers/*/*.[ch] contrib/*/*.[ch])
format:
	@tools/install-deps.sh lint
	clang-format -i $(FORMAT_SRC)

lint:
	tools/check-layers.sh .
	@tools/install-deps.sh lint
	clang-format --dry-run --Werror $(FORMAT_SRC)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -Iinclude -I. -D__GNUC__ --suppress=missingIncludeSystem \
		lib sim drivers tools tests bench contrib

clean:
	rm -rf build

# The guest tests (tests/vm/test_NAME.c, run by tests/vm_NAME.sh): QEMU's edu
# DMA engine, NVMe controller and NICs through UIO and VFIO, inside a QEMU guest,
# each linked with its driver's sources. Not part of `all`. Static, so the
# guest's initramfs needs no shared libraries; build them without SAN. Debian
# has no libcmocka.a, so unless one is installed it is built from Debian's
# source of the installed libcmocka-dev (apt-get source, into $(B)/vm/cmocka).
VM_CMOCKA := $(firstword $(wildcard $(if $(CROSS),/usr/lib/$(TRIPLET)/libcmocka.a,/usr/lib/*/libcmocka.a \
	/usr/lib/libcmocka.a)) $(B)/vm/cmocka/libcmocka.a)
# What both guest programs share, and the thread helpers that keep thread
# stacks out of their leak checks.
VM_SUPPORT := tests/vm/guest_support.c $(SUPPORT)
$(B)/vm/test_edu $(B)/vm/test_dmabuf: $(wildcard drivers/edu/*.[ch])
$(B)/vm/test_nvme: $(NVME_SRC) $(NVME_HDR)
$(B)/vm/test_nic: $(NIC_SRC) $(NIC_HDR)
$(B)/vm/test_edu $(B)/vm/test_dmabuf $(B)/vm/test_nvme $(B)/vm/test_nic: $(B)/vm/test_%: tests/vm/test_%.c $(VM_SUPPORT) tests/vm/guest_support.h \
		$(wildcard tests/support/*.h) $(B)/libudma.a
	@mkdir -p $(@D)
	@[ -f $(VM_CMOCKA) ] || $(MAKE) --no-print-directory $(VM_CMOCKA) || \
		echo "udma: no static cmocka (Debian's source unreachable?): $(@F) is linked dynamically; the guest image carries its libraries"
	if [ -f $(VM_CMOCKA) ]; then \
		$(CC) -static $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(VM_CMOCKA) $(LIBS); \
	else \
		$(CC) $(BASE) $(CFLAGS) -o $@ $(filter %.c,$^) $(B)/libudma.a $(LIBS) -lcmocka; \
	fi
$(B)/vm/cmocka/libcmocka.a:
	rm -rf $(@D) && mkdir -p $(@D)/lists/partial $(@D)/cache
	. /etc/os-release && echo "deb-src http://deb.debian.org/debian $$VERSION_CODENAME main" >$(@D)/src.list
	cd $(@D) && apt="apt-get -q -o Dir::Etc::SourceList=$$PWD/src.list -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists=$$PWD/lists -o Dir::Cache=$$PWD/cache -o Debug::NoLocking=1" && \
		$$apt update >/dev/null && \
		$$apt source --download-only \
		"cmocka=$$(dpkg-query -W -f='$${source:Version}\n' libcmocka-dev | head -n 1)" && \
		dpkg-source --no-check -x cmocka_*.dsc src >/dev/null && \
		$(CC) -O2 -c -o cmocka.o src/src/cmocka.c -Isrc/include -DHAVE_SIGNAL_H \
		-DHAVE_STRINGS_H -DHAVE_INTTYPES_H -DHAVE_MALLOC_H -DHAVE_GCC_THREAD_LOCAL_STORAGE \
		-DHAVE_CLOCK_GETTIME -DHAVE_CLOCK_REALTIME -DHAVE_STRUCT_TIMESPEC -DHAVE_SIGLONGJMP \
		-DHAVE_STRSIGNAL && \
		$(AR) rcs libcmocka.a cmocka.o
