# The distributed store through AI::MXNet under mpirun: t/dist_job.pl in every role, one server
# and two workers, and two workers without a server (reference §6.2-§6.3, spec §6).
use strict;
use warnings;
use Test::More;
use FindBin;
use File::Spec;

use AI::MXNet qw(mx);

# A library built without the distributed engine (a default `cargo build`, as the packaging
# tests make) says so; there is nothing to run then.
# When the test runner built it with the engine (MXKV_FEATURES holds `dist`: MPI is
# installed), a library without it is a failure, not a reason to skip.
eval { mx->kv->create('dist_sync') };
my $lacks_engine = $@ =~ /does not include/;
my $machine_builds_dist = grep { $_ eq 'dist' } split /[\s,]+/, ($ENV{MXKV_FEATURES} // '');
BAIL_OUT('MPI is installed (MXKV_FEATURES=dist) but the library lacks the distributed engine')
    if $lacks_engine && $machine_builds_dist;
plan skip_all => 'this libmxkv was built without the distributed engine (cargo feature dist)'
    if $lacks_engine;

my $root = File::Spec->rel2abs("$FindBin::Bin/../..");
my $job = "$FindBin::Bin/dist_job.pl";
my @inc = map { "-I" . File::Spec->rel2abs($_) } grep { -d } ("$FindBin::Bin/../blib/lib", "$FindBin::Bin/../blib/arch");
# One server and two workers, then two workers and no server.
for my $layout ([1, 3], [0, 2]) {
    my ($servers, $ranks) = @$layout;
    local $ENV{DMLC_NUM_SERVER} = $servers;
    my $output = `timeout -k 5 300 bash $root/mk/mpirun.sh -np $ranks $^X @inc $job 2>&1`;
    is($? >> 8, 0, "$servers server(s): the job ends cleanly") or diag($output);
    like($output, qr/^worker 0 of 2: ok$/m, "$servers server(s): worker 0 passed its checks");
    like($output, qr/^worker 1 of 2: ok$/m, "$servers server(s): worker 1 passed its checks");
}
done_testing();
