/* SPDX-License-Identifier: MIT */
/* Completion status (§4.6.1) to errno and words; the driver's error line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "drivers/nvme/nvme_internal.h"

struct status_name {
	uint8_t sct, sc;
	int err;
	const char *msg;
};

/* The codes a driver meets (§4.6.1.2.1 generic, .2 command specific, .3
 * media); what QEMU's model uses each for is said where it helps. */
static const struct status_name statuses[] = {
	{NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE, EOPNOTSUPP,
	 "invalid command opcode: the controller does not support this command"},
	{NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD, EINVAL,
	 "invalid field in command (a transfer beyond MDTS, a bad namespace or option)"},
	{NVME_SCT_GENERIC, NVME_SC_CID_CONFLICT, EPROTO, "command identifier conflict (a driver bug)"},
	{NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR, EIO,
	 "data transfer error: the controller could not read or write host memory (a PRP outside "
	 "the memory mapped for the device?)"},
	{NVME_SCT_GENERIC, 0x05, EIO, "commands aborted due to power loss notification"},
	{NVME_SCT_GENERIC, NVME_SC_INTERNAL, EIO, "internal error in the controller (or its backing store)"},
	{NVME_SCT_GENERIC, NVME_SC_ABORT_REQ, ECANCELED, "command abort requested"},
	{NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DEL, ECANCELED, "command aborted due to SQ deletion"},
	{NVME_SCT_GENERIC, NVME_SC_INVALID_NS, ENODEV, "invalid namespace or format: namespace not active"},
	{NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR, EPROTO,
	 "command sequence error (e.g. Number of Queues set after queues were created)"},
	{NVME_SCT_GENERIC, NVME_SC_PRP_OFFSET, EFAULT,
	 "PRP offset invalid: a PRP entry that must be page aligned is not"},
	{NVME_SCT_GENERIC, NVME_SC_LBA_RANGE, ERANGE, "LBA range exceeds namespace size"},
	{NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED, ENOSPC, "namespace capacity exceeded"},
	{NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY, EAGAIN, "namespace not ready"},
	{NVME_SCT_GENERIC, 0x84, EBUSY, "format in progress"},
	{NVME_SCT_COMMAND, 0x00, EINVAL, "completion queue invalid"},
	{NVME_SCT_COMMAND, 0x01, EINVAL, "invalid queue identifier"},
	{NVME_SCT_COMMAND, 0x02, EINVAL, "invalid queue size"},
	{NVME_SCT_COMMAND, 0x03, EBUSY, "abort command limit exceeded"},
	{NVME_SCT_COMMAND, 0x08, EINVAL,
	 "invalid interrupt vector (without MSI-X, as under UIO, every queue uses vector 0)"},
	{NVME_SCT_COMMAND, 0x0c, EBUSY, "invalid queue deletion (delete the SQ before its CQ)"},
	{NVME_SCT_COMMAND, 0x0e, EOPNOTSUPP, "feature not changeable"},
	{NVME_SCT_MEDIA, 0x80, EIO, "write fault"},
	{NVME_SCT_MEDIA, 0x81, EIO, "unrecovered read error"},
	{NVME_SCT_MEDIA, 0x85, EILSEQ, "compare failure"},
	{NVME_SCT_MEDIA, 0x86, EACCES, "access denied"},
	{NVME_SCT_MEDIA, 0x87, ENODATA, "deallocated or unwritten logical block"},
};

int nvme_status_errno(uint16_t status, const char **msg)
{
	static __thread char other[64];
	unsigned sct = NVME_STATUS_SCT(status), sc = NVME_STATUS_SC(status);

	if (sct == NVME_SCT_GENERIC && sc == NVME_SC_SUCCESS) {
		if (msg)
			*msg = "success";
		return 0;
	}
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		if (statuses[i].sct == sct && statuses[i].sc == sc) {
			if (msg)
				*msg = statuses[i].msg;
			return -statuses[i].err;
		}
	}
	if (msg) {
		snprintf(other, sizeof(other), "status type %u code 0x%02x%s", sct, sc,
			 NVME_STATUS_DNR(status) ? " (do not retry)" : "");
		*msg = other;
	}
	return -EIO;
}

static __thread char last_error[sizeof(struct nvme_error_line)];

const char *nvme_last_error(void)
{
	return last_error;
}

int nvme__fail(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return rc;
}

void nvme__error_save(struct nvme_error_line *e)
{
	memcpy(e->text, last_error, sizeof(e->text));
}

void nvme__error_restore(const struct nvme_error_line *e)
{
	memcpy(last_error, e->text, sizeof(last_error));
}
