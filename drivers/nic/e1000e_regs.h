/* SPDX-License-Identifier: MIT */
/*
 * Intel 82574 GbE controller (8086:10d3), the parts e1000e.c uses: register
 * offsets in BAR 0 (memory), their bits, and the legacy RX and TX
 * descriptors. After Intel's "82574 GbE Controller Family Datasheet"
 * (rev. 3.4): its register descriptions (§10.2, cited with the register's
 * name), receive with the legacy receive descriptor (§7.1), transmit with
 * the legacy transmit descriptor (§7.2), interrupts (§7.4). Subsections
 * are named, not numbered.
 */
#ifndef E1000E_REGS_H
#define E1000E_REGS_H

#include <stdint.h>

#define E1000E_PCI_VENDOR 0x8086u /* Intel */
#define E1000E_PCI_DEVICE 0x10d3u /* 82574L: its PCI device ID */
#define E1000E_BAR	  0	  /* memory-mapped registers, 128 KiB (82574 §10.1, memory BAR) */

/* General registers (82574 §10.2: CTRL, STATUS) */
#define E1000E_CTRL	       0x0000u		 /* Device Control */
#define E1000E_CTRL_ASDE       (1u << 5)	 /* auto-speed detection */
#define E1000E_CTRL_SLU	       (1u << 6)	 /* set link up */
#define E1000E_CTRL_RST	       (1u << 26)	 /* device reset, self-clearing */
#define E1000E_CTRL_PHY_RST    (1u << 31)	 /* PHY reset */
#define E1000E_STATUS	       0x0008u		 /* Device Status */
#define E1000E_STATUS_FD       (1u << 0)	 /* full duplex */
#define E1000E_STATUS_LU       (1u << 1)	 /* link up */
#define E1000E_STATUS_SPEED(s) (((s) >> 6) & 3u) /* an index into: */
#define E1000E_STATUS_SPEED_MBPS    \
	{                           \
		10, 100, 1000, 1000 \
	}

/* The reset takes about 1 us on the chip (82574 §10.2, CTRL.RST: wait 1 ms
 * before touching the device again, as Linux does); the driver gives it
 * this long to clear CTRL.RST before it calls the device dead. */
#define E1000E_RESET_SETTLE_MS	1u
#define E1000E_RESET_TIMEOUT_MS 100u

/* Interrupts (82574 §7.4; §10.2: ICR, IMS, IMC, IVAR) */
#define E1000E_ICR	0x00C0u	    /* Interrupt Cause Read: clear on read, or write 1s */
#define E1000E_IMS	0x00D0u	    /* Interrupt Mask Set/Read */
#define E1000E_IMC	0x00D8u	    /* Interrupt Mask Clear */
#define E1000E_IVAR	0x00E4u	    /* Interrupt Vector Allocation (MSI-X) */
#define E1000E_INT_ALL	0xFFFFFFFFu /* every cause, for IMC and ICR */
#define E1000E_ICR_RXT0 (1u << 7)   /* RX timer: frames received (INTx, MSI) */
#define E1000E_ICR_RXQ0 (1u << 20)  /* frames received on queue 0 (MSI-X) */
/* IVAR: per cause a 3-bit MSI-X vector and a valid bit (82574 §10.2, IVAR) */
#define E1000E_IVAR_RXQ0(vec) ((vec) | (1u << 3))

/* Receive (82574 §7.1; §10.2: RCTL, RDBAL to RADV, RFCTL) */
#define E1000E_RCTL	       0x0100u
#define E1000E_RCTL_EN	       (1u << 1)  /* receiver enable */
#define E1000E_RCTL_UPE	       (1u << 3)  /* unicast promiscuous */
#define E1000E_RCTL_MPE	       (1u << 4)  /* multicast promiscuous */
#define E1000E_RCTL_LBM_MAC    (1u << 6)  /* loopback mode 01b: MAC loopback */
#define E1000E_RCTL_BAM	       (1u << 15) /* accept broadcast */
#define E1000E_RCTL_BSIZE_2048 (0u << 16) /* BSIZE 00b with BSEX 0: 2048-byte buffers */
#define E1000E_RCTL_SECRC      (1u << 26) /* strip the Ethernet CRC */
#define E1000E_RX_BUF	       2048u	  /* the buffer size RCTL_BSIZE_2048 says */
#define E1000E_RDBAL	       0x2800u	  /* RX descriptor base, low 32 bits */
#define E1000E_RDBAH	       0x2804u	  /* and high 32 bits */
#define E1000E_RDLEN	       0x2808u	  /* ring bytes, a multiple of 128 */
#define E1000E_RDH	       0x2810u	  /* head: the next descriptor the NIC fills */
#define E1000E_RDT	       0x2818u	  /* tail: one past the last buffer the driver gave */
#define E1000E_RDTR	       0x2820u	  /* receive delay timer (0: write back at once) */
#define E1000E_RADV	       0x282Cu	  /* receive absolute delay timer */
#define E1000E_RFCTL	       0x5008u	  /* receive filter control: EXTEN 0 keeps legacy descriptors */

/* Transmit (82574 §7.2; §10.2: TCTL, TIPG, TDBAL to TIDV) */
#define E1000E_TCTL	       0x0400u
#define E1000E_TCTL_EN	       (1u << 1)	     /* transmitter enable */
#define E1000E_TCTL_PSP	       (1u << 3)	     /* pad short packets to 64 bytes with the FCS */
#define E1000E_TCTL_CT(n)      ((uint32_t)(n) << 4)  /* collision threshold */
#define E1000E_TCTL_COLD(n)    ((uint32_t)(n) << 12) /* collision distance */
#define E1000E_TCTL_CT_DEFAULT 0x0Fu		     /* the datasheet's recommended values */
#define E1000E_TCTL_COLD_FD    0x3Fu		     /* full duplex */
#define E1000E_TIPG	       0x0410u		     /* transmit inter-packet gap */
#define E1000E_TIPG_DEFAULT    0x00602008u /* IPGT 8, IPGR1 8, IPGR2 6: the datasheet's copper default */
#define E1000E_TDBAL	       0x3800u
#define E1000E_TDBAH	       0x3804u
#define E1000E_TDLEN	       0x3808u
#define E1000E_TDH	       0x3810u
#define E1000E_TDT	       0x3818u
#define E1000E_TIDV	       0x3820u /* transmit interrupt delay */

/* Receive address 0: the NIC's MAC, loaded from the EEPROM at reset
 * (82574 §10.2, RAL and RAH) */
#define E1000E_RAL0	0x5400u
#define E1000E_RAH0	0x5404u
#define E1000E_MTA	0x5200u /* multicast table array, 128 registers */
#define E1000E_MTA_REGS 128u

/* Statistics (82574 §10.2, statistics registers): 32-bit counters that
 * clear on read. */
#define E1000E_MPC 0x4010u /* missed packets: no room in the RX FIFO */

/* Ring sizes: RDLEN/TDLEN are multiples of 128 bytes, 8 descriptors; the
 * registers hold up to 2^20 bytes, the API allows up to 4096 (nic.h). */
#define E1000E_RING_ALIGN 128u /* ring base: 16-byte aligned, 128 bytes is safe for both */
#define E1000E_RING_MULT  8u
#define E1000E_RING_MIN	  8u
#define E1000E_RING_MAX	  4096u

/* Legacy receive descriptor (82574 §7.1, legacy receive descriptor
 * format), 16 bytes, written back in place by the NIC. */
struct e1000e_rx_desc {
	uint64_t addr;	   /* buffer bus address */
	uint16_t length;   /* bytes written into the buffer (CRC stripped with SECRC) */
	uint16_t checksum; /* packet checksum (unused) */
	uint8_t status;
	uint8_t errors;
	uint16_t special; /* VLAN tag (unused) */
};
#define E1000E_RXD_STA_DD    (1u << 0) /* descriptor done */
#define E1000E_RXD_STA_EOP   (1u << 1) /* end of packet: last buffer of the frame */
#define E1000E_RXD_ERR_CE    (1u << 0) /* CRC or alignment error */
#define E1000E_RXD_ERR_SE    (1u << 1) /* symbol error */
#define E1000E_RXD_ERR_SEQ   (1u << 2) /* sequence error */
#define E1000E_RXD_ERR_RXE   (1u << 7) /* RX data error */
#define E1000E_RXD_ERR_FRAME (E1000E_RXD_ERR_CE | E1000E_RXD_ERR_SE | E1000E_RXD_ERR_SEQ | E1000E_RXD_ERR_RXE)

/* Legacy transmit descriptor (82574 §7.2, legacy transmit descriptor
 * format), 16 bytes. */
struct e1000e_tx_desc {
	uint64_t addr;	 /* buffer bus address */
	uint16_t length; /* bytes to send from it */
	uint8_t cso;	 /* checksum offset (unused) */
	uint8_t cmd;
	uint8_t status; /* the NIC sets DD when RS asked for it */
	uint8_t css;	/* checksum start (unused) */
	uint16_t special;
};
#define E1000E_TXD_CMD_EOP  (1u << 0) /* end of packet */
#define E1000E_TXD_CMD_IFCS (1u << 1) /* insert the FCS */
#define E1000E_TXD_CMD_RS   (1u << 3) /* report status: write DD back */
#define E1000E_TXD_STA_DD   (1u << 0) /* descriptor done */

_Static_assert(sizeof(struct e1000e_rx_desc) == 16, "82574 §7.1: a 16-byte RX descriptor");
_Static_assert(sizeof(struct e1000e_tx_desc) == 16, "82574 §7.2: a 16-byte TX descriptor");

#endif
