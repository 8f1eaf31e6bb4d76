# modes git does not keep: a private folder tree and a group-writable file
mkdir -p private/inner
echo p > private/inner/p
chmod 0700 private private/inner
chmod 0664 files/two.txt
# hardlinks and a setuid file: kept by COPY
mkdir linked
echo linked > linked/a
ln linked/a linked/b
cp exec.sh linked/suid.sh
chmod 4755 linked/suid.sh
