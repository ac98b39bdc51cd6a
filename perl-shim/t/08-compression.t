# 2-bit gradient compression through $kv->set_gradient_compression: the values MXNet 1.9.1
# gives back (a 'device' store; each device keeps its own residual), and its refusals.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

sub compressing
{
    my ($threshold) = @_;
    my $kv = mx->kv->create('device');
    $kv->set_gradient_compression({ type => '2bit', threshold => $threshold });
    return $kv;
}

sub pulled
{
    my ($kv, $key, $shape) = @_;
    my $out = mx->nd->zeros($shape);
    $kv->pull($key, out => $out);
    return $out;
}

subtest 'a steady gradient below the threshold arrives in turns' => sub {
    my $kv = compressing(0.5);
    $kv->init(3, mx->nd->zeros([2, 3]));
    my @first;
    for (1 .. 5) {
        $kv->push(3, mx->nd->ones([2, 3]) * 0.3);
        my $out = pulled($kv, 3, [2, 3]);
        push @first, (values_of($out))[0];
        all_equal($out, $first[-1], "push $_: every element alike");
    }
    is_deeply(\@first, [0, 0.5, 0, 0.5, 0.5], '0, 0.5, 0, 0.5, 0.5 as MXNet');
};

subtest 'each device keeps its own residual' => sub {
    my $kv = compressing(0.5);
    $kv->init('w', mx->nd->zeros([4]));
    my @grads = (mx->nd->array([0.3, -0.3, 0.6, -1.2], ctx => mx->cpu(0)),
                 mx->nd->array([0.2, 0.4, -0.6, 2.0], ctx => mx->cpu(1)));
    my @got;
    for (1 .. 4) {
        $kv->push('w', \@grads);
        push @got, [values_of(pulled($kv, 'w', [4]))];
    }
    is_deeply(\@got, [[0, 0, 0, 0], [0.5, 0, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0, 0, 0]],
        'the sums MXNet gives');
};

subtest 'the updater receives the compressed sum' => sub {
    my $kv = compressing(0.25);
    $kv->init(0, mx->nd->zeros([3]));
    my @recv;
    $kv->_set_updater(sub { my ($key, $input, $stored) = @_; @recv = values_of($input); $stored -= $input });
    $kv->push(0, [map { mx->nd->array([0.3, -0.3, 0.1], ctx => mx->cpu($_)) } 0, 1]);
    is_deeply(\@recv, [0.5, -0.5, 0], 'two devices each sent 0.25, -0.25, 0');
    is_deeply([values_of(pulled($kv, 0, [3]))], [-0.5, 0.5, 0], 'and the updater applied it');
};

subtest 'refusals' => sub {
    dies_like(sub { mx->kv->create('local')->set_gradient_compression({ type => '2bit' }) },
        qr/Gradient compression is not supported for this type of kvstore/, 'a local store');
    my $kv = compressing(0.5);
    $kv->init(1, mx->nd->zeros([2]));
    dies_like(sub { $kv->set_gradient_compression({ threshold => 0.5 }) },
        qr/Required parameter type of string is not presented/, 'no type');
    dies_like(sub { $kv->set_gradient_compression({ type => '1bit' }) },
        qr/Unknown type for gradient compression 1bit/, 'an unknown type');
    dies_like(sub { $kv->set_gradient_compression({ type => '2bit', threshold => -2.5 }) },
        qr/Check failed: params.threshold > 0 \(-2.5 vs. 0\) : threshold must be greater than 0/,
        'a threshold <= 0');
    dies_like(sub { $kv->set_gradient_compression({ type => '2bit', threshold => 'x' }) },
        qr/Invalid Parameter format for threshold expect float but value='x'/, 'not a number');
    $kv->push(1, mx->nd->ones([2]) * 0.3) for 1 .. 2;
    all_equal(pulled($kv, 1, [2]), 0.5, 'the threshold in force is still 0.5');
    $kv->init(2, mx->nd->zeros([2], dtype => 'float16'));
    dies_like(sub { $kv->push(2, mx->nd->ones([2], dtype => 'float16')) },
        qr/only supported for float32/, 'a float16 key');
    all_equal(pulled($kv, 2, [2]), 0, 'which is unchanged');
};

done_testing;
