#!/usr/bin/perl
# Makes a PE/COFF image (the UKI) reproducible: sets the COFF header's TimeDateStamp, which
# objcopy fills with the current time, to 0, and recomputes the optional header's CheckSum.
# Usage: pe-normalize.pl [--check] FILE
#   --check: change nothing, print the stored and the computed checksum (a self-test).
# Perl because it is Essential in Debian (always installed) and fast enough for a 20 MB file.
use strict;
use warnings;

my $check = @ARGV && $ARGV[0] eq '--check' ? shift @ARGV : undef;
my $path = shift @ARGV or die "usage: $0 [--check] FILE\n";
open(my $fh, '+<:raw', $path) or die "pe-normalize: $path: $!\n";
my $data = do { local $/; <$fh> };
length($data) > 0x40 && substr($data, 0, 2) eq 'MZ' or die "pe-normalize: $path is not a PE image\n";
my $pe = unpack('V', substr($data, 0x3c, 4));
substr($data, $pe, 4) eq "PE\0\0" or die "pe-normalize: $path has no PE header\n";
my $stamp_at = $pe + 8;          # COFF header: Machine(2) NumberOfSections(2) TimeDateStamp(4)
my $sum_at = $pe + 24 + 64;      # optional header (PE32 and PE32+ alike): CheckSum at offset 64
my $stored = unpack('V', substr($data, $sum_at, 4));

substr($data, $stamp_at, 4) = pack('V', 0) unless $check;
substr($data, $sum_at, 4) = pack('V', 0);

# The PE checksum: 16-bit one's-complement-style sum with carries folded, plus the file length.
my $sum = 0;
my $len = length($data);
for (my $off = 0; $off < $len; $off += 65536) {
    my $chunk = substr($data, $off, 65536);
    $chunk .= "\0" if length($chunk) % 2;
    for my $w (unpack('v*', $chunk)) {
        $sum += $w;
        $sum = ($sum & 0xffff) + ($sum >> 16);
    }
}
$sum = ($sum & 0xffff) + ($sum >> 16);
$sum = ($sum + $len) & 0xffffffff;

if ($check) {
    printf "stored %08x computed %08x\n", $stored, $sum;
    exit($stored == $sum ? 0 : 1);
}
substr($data, $sum_at, 4) = pack('V', $sum);
seek($fh, 0, 0) or die "pe-normalize: $path: $!\n";
print {$fh} $data or die "pe-normalize: $path: $!\n";
close($fh) or die "pe-normalize: $path: $!\n";
