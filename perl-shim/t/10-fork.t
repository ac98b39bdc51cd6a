# A process forked after the library has used its thread pool (large sums start it) keeps
# working in the child and in the parent.
use strict;
use warnings;
use Test::More;
use AI::MXNet qw(mx);

# 1e6 float32 per array: a 2-way push touches 12 MB, enough to split the sum over the pool.
my $n = 1_000_000;

sub big_push_pull {
    my ($kv, $key, $value) = @_;
    $kv->push($key, [mx->nd->full([$n], $value), mx->nd->full([$n], $value)]);
    my $out = mx->nd->zeros([$n]);
    $kv->pull($key, out => $out);
    my $pdl = $out->aspdl;
    return ($pdl->min->sclr, $pdl->max->sclr);
}

# Runs $body in a forked child; true when it returned true within 60 seconds.
sub in_child {
    my ($body) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        alarm(60);    # a hang ends the child instead of the test run
        my $ok = eval { $body->() };
        POSIX::_exit($ok ? 0 : 1);
    }
    waitpid($pid, 0);
    return $? == 0;
}

use POSIX ();

my $kv = mx->kv->create('local');
$kv->init(3, mx->nd->zeros([$n]));
is_deeply([big_push_pull($kv, 3, 1)], [2, 2], 'the parent sums over the pool');

ok(in_child(sub { my ($lo, $hi) = big_push_pull($kv, 3, 4); $lo == 8 && $hi == 8 }),
    'a child uses the store it inherited');
ok(in_child(sub {
    my $own = mx->kv->create('local');
    $own->init('w', mx->nd->zeros([$n]));
    my ($lo, $hi) = big_push_pull($own, 'w', 0.5);
    $lo == 1 && $hi == 1;
}), 'a child makes and uses a store of its own');

my $out = mx->nd->zeros([$n]);
$kv->pull(3, out => $out);
is($out->aspdl->max->sclr, 2, "the child's pushes did not reach the parent's store");
is_deeply([big_push_pull($kv, 3, 3)], [6, 6], 'the parent goes on after the fork');

done_testing();
