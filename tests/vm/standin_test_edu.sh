#!/bin/sh
# A stand-in for build/vm/test_edu, to prove the harness's plumbing by hand:
#   cp tests/vm/standin_test_edu.sh /tmp/test_edu   (each file lands at /<its name>)
#   tests/vm/initramfs.sh /tmp/standin.cpio.gz KVER /tmp/test_edu
#   tests/vm/boot.sh uio /boot/vmlinuz-KVER /tmp/standin.cpio.gz
# It binds the edu device as udma will (driver_override + drivers_probe),
# checks the device node appears, and under UIO reads edu's registers through
# /dev/mem. usage (in the guest): /test_edu uio|vfio
set -u
run=$1
dev=/sys/bus/pci/devices/$UDMA_EDU
drv=uio_pci_generic
[ "$run" = vfio ] && drv=vfio-pci
echo "standin: binding $UDMA_EDU to $drv"
echo "$drv" >"$dev/driver_override"
[ -e "$dev/driver" ] && echo "$UDMA_EDU" >"$dev/driver/unbind"
echo "$UDMA_EDU" >/sys/bus/pci/drivers_probe
bound=$(basename "$(readlink "$dev/driver")")
[ "$bound" = "$drv" ] || { echo "standin: FAIL: driver is $bound"; exit 1; }
if [ "$run" = uio ]; then
	ls -l /dev/uio0 || exit 1
	echo "standin: uio0 maps: $(cat /sys/class/uio/uio0/maps/map0/addr) size $(cat /sys/class/uio/uio0/maps/map0/size)"
	bar=$(cat /sys/class/uio/uio0/maps/map0/addr)
	id=$(devmem "$bar" 32)
	devmem $((bar + 4)) 32 0x12345678
	live=$(devmem $((bar + 4)) 32)
	echo "standin: edu id $id (0x010000ED), liveness ~0x12345678 = $live (0xEDCBA987)"
	[ "$id" = 0x010000ED ] && [ "$live" = 0xEDCBA987 ] || exit 1
else
	grp=$(basename "$(readlink "$dev/iommu_group")")
	ls -l "/dev/vfio/$grp" || exit 1
	echo "standin: IOMMU group $grp holds: $(cd "/sys/kernel/iommu_groups/$grp/devices" && echo *)"
fi
echo "standin: PASS"
