#!/usr/bin/env perl
# mxkv from Perl with FFI::Platypus only (no XS): a local store, pushes from four "devices",
# and an updater written in Perl that runs inside the push.
use strict;
use warnings;
use FindBin qw($Bin);
use lib "$Bin/lib";
use MXKV::FFI qw(:all);

my @shape = (2, 3);
my $kv;
check(MXKVStoreCreate('local', \$kv));

# init: key "weight" = all 2
my $weight = nd_new(\@shape, [(2) x 6]);
check(MXKVStoreInitEx($kv, 1, ['weight'], [$weight]));

# The updater gets the summed gradient (recv) and the stored value (local), and owns both
# handles. Writing into local changes the store: weight -= 0.1 * grad.
# The same Perl sub serves int keys and, through MXKVStoreSetUpdaterEx, string keys.
my $update = sub {
    my ($key, $recv, $local) = @_;
    my @grad = nd_values($recv);
    my @w = nd_values($local);
    $w[$_] -= 0.1 * $grad[$_] for 0 .. $#w;
    check(MXNDArraySyncCopyFromCPU($local, \@w, scalar @w));
    printf "updater: key %s, grad[0] = %g\n", $key, $grad[0];
    check(MXNDArrayFree($recv));
    check(MXNDArrayFree($local));
};
my ($int_updater, $str_updater) = (closure($update), closure($update));
check(MXKVStoreSetUpdaterEx($kv, $int_updater, $str_updater, undef));

# push: four devices each send a gradient; the store sums them (1+2+3+4 = 10) and updates
my @grads = map { nd_new(\@shape, [($_ + 1) x 6], $_) } 0 .. 3;
check(MXKVStorePushEx($kv, 4, [('weight') x 4], \@grads, 0));

# pull into two outputs
my @outs = map { nd_new(\@shape, [(0) x 6], $_) } 0 .. 1;
check(MXKVStorePullEx($kv, 2, [('weight') x 2], \@outs, 0));
printf "pulled: %s\n", join(' ', nd_values($outs[1]));

check(MXNDArrayFree($_)) for $weight, @grads, @outs;
check(MXKVStoreFree($kv));
