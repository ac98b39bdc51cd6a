# The dense cases of MXNet's perl-package/AI-MXNet/t/test_kvstore.t (reference §6.4), same steps,
# same expected values: test_init, test_get_type, test_single_kv_pair, test_list_kv_pair,
# test_aggregator, test_updater (38 checks).
use strict;
use warnings;
use Test::More;
use PDL::Lite;
use AI::MXNet qw(mx);

my $shape = [4, 4];
my $keys  = [5, 7, 9];

sub init_kv
{
    my $kv = mx->kv->create();
    # single
    $kv->init(3, mx->nd->zeros($shape));
    # list
    $kv->init($keys, [map { mx->nd->zeros($shape) } 0 .. @$keys - 1]);
    return $kv;
}

sub check_diff_to_scalar
{
    my ($A, $x, $name) = @_;
    ok((($A - $x)->aspdl->abs->sum) == 0, $name);
}

sub test_init
{
    my $kv = mx->kv->create();
    $kv->init(3, mx->nd->ones($shape) * 4);
    my $a = mx->nd->zeros($shape);
    $kv->pull(3, out => $a);
    check_diff_to_scalar($a, 4, 'test_init');
}

sub test_get_type
{
    my $kvtype = 'local_allreduce_cpu';
    my $kv = mx->kv->create($kvtype);
    is($kv->type, $kvtype, 'test_get_type');
}

sub test_single_kv_pair
{
    my $kv = init_kv();
    $kv->push(3, mx->nd->ones($shape));
    my $val = mx->nd->empty($shape);
    $kv->pull(3, out => $val);
    check_diff_to_scalar($val, 1, 'test_single_kv_pair');
}

sub test_list_kv_pair
{
    my $kv = init_kv();
    $kv->push($keys, [map { mx->nd->ones($shape) * 4 } 0 .. @$keys - 1]);
    my $val = [map { mx->nd->empty($shape) } 0 .. @$keys - 1];
    $kv->pull($keys, out => $val);
    check_diff_to_scalar($_, 4, 'test_list_kv_pair') for @$val;
}

sub test_aggregator
{
    my $kv = init_kv();
    my $num_devs = 4;
    my $devs = [map { mx->cpu($_) } 0 .. $num_devs - 1];

    # single
    my $vals = [map { mx->nd->ones($shape, ctx => $_) } @$devs];
    $kv->push(3, $vals);
    $kv->pull(3, out => $vals);
    check_diff_to_scalar($_, $num_devs, 'test_aggregator single') for @$vals;

    # list
    $vals = [map { [map { mx->nd->ones($shape, ctx => $_) * 2 } @$devs] } 0 .. @$keys - 1];
    $kv->push($keys, $vals);
    $kv->pull($keys, out => $vals);
    for my $v (@$vals) {
        check_diff_to_scalar($_, $num_devs * 2, 'test_aggregator list') for @$v;
    }
}

sub updater
{
    my ($key, $recv, $local) = @_;
    $local += $recv;
}

sub test_updater
{
    my $dev = shift // mx->cpu;
    my $kv = init_kv();
    $kv->_set_updater(\&updater);

    # single
    my $num_devs = 4;
    my $devs = [map { mx->cpu($_) } 0 .. $num_devs - 1];
    my $vals = [map { mx->nd->ones($shape, ctx => $_) } @$devs];
    $kv->push(3, $vals);
    $kv->pull(3, out => $vals);
    check_diff_to_scalar($_, $num_devs, 'test_updater single') for @$vals;

    # list
    $vals = [map { [map { mx->nd->ones($shape, ctx => $_) } @$devs] } 0 .. @$keys - 1];
    my $num_push = 10;
    $kv->push($keys, $vals) for 0 .. $num_push - 1;
    $kv->pull($keys, out => $vals);
    for my $v (@$vals) {
        check_diff_to_scalar($_, $num_devs * $num_push, 'test_updater list') for @$v;
    }
}

test_init();
test_get_type();
test_single_kv_pair();
test_list_kv_pair();
test_aggregator();
test_updater();

done_testing(38);
