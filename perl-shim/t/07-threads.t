# Perl threads: each interpreter has its own stores and updaters; callbacks run in the
# interpreter that installed them; handles are not shared between interpreters.
use strict;
use warnings;
use Config;
use Test::More;

BEGIN {
    plan(skip_all => 'this perl has no ithreads') unless $Config{useithreads};
}
use threads;
use PDL::Lite;
use AI::MXNet qw(mx);
$PDL::no_clone_skip_warning = 1;

my $outer = mx->nd->ones([2]);
my @threads = map {
    my $id = $_;
    threads->create(sub {
        my $kv = mx->kv->create('local');
        $kv->init('w', mx->nd->zeros([100]));
        $kv->_set_updater(sub { my ($i, $input, $stored) = @_; $stored += $input * $id });
        $kv->push('w', mx->nd->ones([100])) for 1 .. 500;
        my $out = mx->nd->zeros([100]);
        $kv->pull('w', out => $out);
        my $outer_usable = eval { $outer->shape; 1 } ? 1 : 0;
        return ($out->aspdl->sum->sclr, $outer_usable);
    });
} 1 .. 3;

for my $id (1 .. 3) {
    my ($sum, $outer_usable) = $threads[$id - 1]->join;
    is($sum, 100 * 500 * $id, "thread $id: its updater ran 500 times in its own interpreter");
    is($outer_usable, 0, "thread $id: the parent's arrays are not usable there (no double free)");
}
is_deeply([@{ $outer->aspdl->unpdl }], [1, 1], "the parent's array is intact");

done_testing;
