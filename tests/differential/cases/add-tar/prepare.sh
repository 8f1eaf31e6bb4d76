# archives made here (git keeps no owners or setuid bits): a tree with owners,
# modes, a symlink and a hardlink, as plain tar, gzip and xz
mkdir -p payload/dir/sub payload/empty
echo one > payload/dir/one.txt
echo two > payload/dir/sub/two.txt
ln payload/dir/one.txt payload/dir/one-hardlink
ln -s sub/two.txt payload/dir/link
printf '#!/bin/sh\n' > payload/tool
chmod 4755 payload/tool
chmod 0700 payload/empty
tar --sort=name --numeric-owner --owner=1234 --group=5678 -C payload -cf archive.tar .
tar --sort=name --numeric-owner --owner=0 --group=0 -C payload -czf archive.tar.gz dir
tar --sort=name --numeric-owner --owner=42 --group=42 -C payload -cJf archive.tar.xz tool empty
rm -r payload
