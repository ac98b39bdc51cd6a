# The AI::MXNet modules that AI::MXNet's own test files use: AI::MXNet::Base's exports,
# AI::MXNet::TestUtils, AI::MXNet::Function::Parameters, mx->random, mx->context, and the
# message for what is outside mxkv's scope.
use strict;
use warnings;
use Test::More;
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);
use AI::MXNet::Base qw(:DEFAULT pzeros pones pceil digitize array_index range);
use AI::MXNet::TestUtils qw(same allclose reldiff almost_equal pdl_maximum pdl_minimum same_array
                            dies_like random_arrays rand_ndarray rand_shape_2d rand_shape_3d
                            rand_shape_nd randint);

subtest 'AI::MXNet::Base' => sub {
    is_deeply([zip([1, 2, 3], ['a', 'b'])], [[1, 'a'], [2, 'b']], 'zip stops at the shortest list');
    my @seen;
    zip(sub { push @seen, "@_" }, [1, 2], [3, 4]);
    is_deeply(\@seen, ['1 3', '2 4'], 'zip with a callback');
    is_deeply([enumerate(['x', 'y'])], [[0, 'x'], [1, 'y']], 'enumerate');
    @seen = ();
    enumerate(sub { push @seen, "@_" }, ['x', 'y'], [7, 8]);
    is_deeply(\@seen, ['0 x 7', '1 y 8'], 'enumerate with a callback');
    is(product(2, 3, 4), 24, 'product');
    is(bisect_left([1, 2, 2, 5], 2), 1, 'bisect_left');
    is(bisect_left([1, 2, 2, 5], 6), 4, 'bisect_left past the end');
    is_deeply(as_array(3), [3], 'as_array of a scalar');
    is_deeply(as_array([3]), [3], 'as_array of an array ref');
    is_deeply(pzeros(2, 3)->unpdl, [[0, 0], [0, 0], [0, 0]], 'pzeros is PDL zeros (dims in PDL order)');
    is_deeply(pones(2)->unpdl, [1, 1], 'pones');
    is_deeply(pceil(pdl([1.2, -1.5]))->unpdl, [2, -1], 'pceil');
    is_deeply(pdl([[1, 2]])->unpdl, [[1, 2]], 'pdl');
    is_deeply(cat(pdl([1]), pdl([2]))->unpdl, [[1], [2]], 'cat');
    is(scalar(dog(pdl([[1, 2], [3, 4]]))), 2, 'dog');
    is(digitize(2.5, [1, 2, 3]), 2, 'digitize');
    is(array_index('b', ['a', 'b']), 1, 'array_index');
    is_deeply([range(1, 10, 3)], [1, 4, 7], 'range');
    is(STORAGE_TYPE_STR_TO_ID->{row_sparse}, 1, 'storage type ids');
    is(STORAGE_TYPE_ID_TO_STR->{2}, 'csr', 'storage type names');
    MxkvTest::dies_like(sub { assert(0, 'the reason') }, qr/^the reason/, 'assert with a message');
    MxkvTest::dies_like(sub { assert(0) }, qr/^AssertionError/, 'assert without one');
    MxkvTest::dies_like(sub { zip([1], 'x') }, qr/zip: the arguments must be array refs/, 'zip of a string');
};

subtest 'AI::MXNet::TestUtils' => sub {
    ok(same(pdl([1, 2]), pdl([1, 2])), 'same');
    ok(!same(pdl([1, 2]), pdl([1, 3])), 'not same');
    ok(!same(pdl([1, 2]), pdl([[1, 2]])), 'not same: other dims');
    my $nan = pdl([1]) / pdl([0]) - pdl([1]) / pdl([0]);
    ok(same($nan, $nan->copy), 'NaN is the same as NaN');
    ok(allclose(pdl([1, 2]), pdl([1, 2 + 1e-7])), 'allclose');
    ok(!allclose(pdl([1, 2]), pdl([1, 2.1])), 'not allclose');
    ok(allclose(pdl([1]), pdl([1.05]), 0.1), 'allclose with a threshold');
    is(reldiff(pdl([1, 1]), pdl([1, 1])), 0, 'reldiff of equal arrays');
    ok(abs(reldiff(pdl([1, 1]), pdl([1, 3])) - 2 / 6) < 1e-12, 'reldiff = sum|a-b| / (sum|a| + sum|b|)');
    ok(almost_equal(pdl([1e6]), pdl([1e6 + 0.5])), 'almost_equal (relative)');
    ok(!almost_equal(pdl([1]), pdl([1.01])), 'not almost_equal');
    is_deeply(pdl_maximum(pdl([1, 5]), 3)->unpdl, [3, 5], 'pdl_maximum with a number');
    is_deeply(pdl_minimum(pdl([1, 5]), pdl([2, 2]))->unpdl, [1, 2], 'pdl_minimum');
    my $a = mx->nd->zeros([2]);
    ok(same_array($a, $a->reshape([2])), 'same_array of a view');
    ok(!same_array($a, $a->copy), 'not same_array of a copy');
    all_equal($a, 0, 'same_array leaves the array as it was');
    ok(dies_like(sub { die "boom\n" }, qr/boom/), 'dies_like');
    my $shape = rand_shape_2d(3, 4);
    ok(@$shape == 2 && $shape->[0] >= 1 && $shape->[0] <= 3 && $shape->[1] <= 4, 'rand_shape_2d');
    is(scalar(@{ rand_shape_3d() }), 3, 'rand_shape_3d');
    my $nd_shape = rand_shape_nd(4, 2);
    ok(@$nd_shape == 4 && !grep({ $_ < 1 or $_ > 2 } @$nd_shape), 'rand_shape_nd');
    my @ints = map { randint(2, 5) } 1 .. 50;
    ok(!grep({ $_ < 2 or $_ >= 5 } @ints), 'randint in [low, high)');
    my ($p, $q) = random_arrays([2, 3], [4]);
    is_deeply([$p->dims], [3, 2], 'random_arrays in PDL order');
    is($q->nelem, 4, 'one PDL per shape');
    my $r = rand_ndarray([3, 2], 'default', 1, 'float64');
    is_deeply($r->shape, [3, 2], 'rand_ndarray shape');
    is($r->dtype, 'float64', 'rand_ndarray dtype');
    ok($r->aspdl->max < 1 && $r->aspdl->min >= 0, 'uniform values');
    MxkvTest::dies_like(sub { rand_ndarray([2], 'csr') }, qr/storage type 'csr' is not available/, 'sparse storage');
    MxkvTest::dies_like(sub { same([1], [1]) }, qr/same: the arguments must be PDLs/, 'same of array refs');
};

package Scaled {
    use AI::MXNet::Function::Parameters;
    func add_scaled(Num $x, Num $y, Num $by = 2) { $x + $y * $by }
    method first_row(Index $index, AI::MXNet::NDArray $weight) { $weight->at($index) }
    func shape_size(Shape $shape) { my $n = 1; $n *= $_ for @$shape; $n }
}

subtest 'AI::MXNet::Function::Parameters' => sub {
    is(Scaled::add_scaled(1, 2), 5, 'func with a default');
    is(Scaled::add_scaled(1, 2, 3), 7, 'func with all arguments');
    is_deeply(Scaled->first_row(1, mx->nd->array([[1, 2], [3, 4]]))->aspdl->unpdl, [3, 4], 'method with types');
    is(Scaled::shape_size([2, 3]), 6, 'a Shape');
    MxkvTest::dies_like(sub { Scaled::add_scaled('x', 1) },
        qr/^In func add_scaled: parameter 1 \(\$x\): Validation failed for 'Num' with value x/, 'a bad Num');
    MxkvTest::dies_like(sub { Scaled->first_row(0, [1]) },
        qr/^In method first_row: parameter 2 \(\$weight\): Validation failed for 'AI::MXNet::NDArray'/,
        'a bad NDArray');
    MxkvTest::dies_like(sub { Scaled->first_row(0.5, mx->nd->ones([1])) }, qr/Validation failed for 'Index'/,
        'a bad Index');
    MxkvTest::dies_like(sub { Scaled::shape_size([-1]) }, qr/Validation failed for 'Shape'/, 'a bad Shape');
    MxkvTest::dies_like(sub { Scaled::add_scaled(1) }, qr/Too few arguments for func add_scaled/, 'too few');
};

subtest 'mx->random' => sub {
    mx->random->seed(7);
    my $u1 = mx->random->uniform({ shape => [3, 4], ctx => mx->cpu, dtype => 'float32' });
    my $n1 = mx->random->normal(0, 1, shape => [5]);
    mx->random->seed(7);
    my $u2 = mx->random->uniform(shape => [3, 4], ctx => mx->cpu, dtype => 'float32');
    my $n2 = mx->random->normal(loc => 0, scale => 1, shape => [5]);
    ok(same($u1->aspdl, $u2->aspdl) && same($n1->aspdl, $n2->aspdl), 'seed repeats the draws (all spellings)');
    mx->random->seed(8);
    ok(!same($u1->aspdl, mx->random->uniform(shape => [3, 4])->aspdl), 'another seed, other draws');
    my $u = mx->random->uniform(-2, 3, shape => [500], dtype => 'float64', ctx => mx->cpu(1));
    is($u->dtype, 'float64', 'dtype');
    is($u->context . '', 'cpu(1)', 'ctx');
    ok($u->aspdl->min >= -2 && $u->aspdl->max < 3 && $u->aspdl->max > 2, 'uniform in [low, high)');
    my $n = mx->random->normal(10, 0.5, shape => [20000])->aspdl;
    ok(abs($n->avg - 10) < 0.02, 'normal mean');
    ok(abs(sqrt((($n - $n->avg)**2)->avg) - 0.5) < 0.02, 'normal standard deviation');
    my $out = mx->nd->zeros([2, 3]);
    mx->random->uniform(low => 1, high => 2, out => $out);
    ok($out->aspdl->min >= 1, 'out => fills the array');
    my $ints = mx->random->randint(5, 8, shape => [100]);
    is($ints->dtype, 'int32', 'randint gives int32');
    is_deeply([sort { $a <=> $b } keys %{ { map { $_ => 1 } @{ $ints->aspdl->unpdl } } }], [5, 6, 7], 'randint range');
    is(mx->nd->random, 'AI::MXNet::Random', 'mx->nd->random');
    MxkvTest::dies_like(sub { mx->random->seed('x') }, qr/seed: the seed must be an integer/, 'a bad seed');
    MxkvTest::dies_like(sub { mx->random->seed(1, ctx => 'gpu') }, qr/ctx argument could be either string 'all'/,
        'a bad ctx');
    MxkvTest::dies_like(sub { mx->random->uniform(shape => [2], mean => 1) }, qr/uniform: unknown argument 'mean'/,
        'an unknown argument');
    MxkvTest::dies_like(sub { mx->random->normal(loc => 'a') }, qr/normal: loc must be a number/, 'a bad loc');
};

subtest 'mx->context and the scope' => sub {
    is(mx->context->num_gpus, 0, 'mx->context->num_gpus is 0');
    is(mx->context->cpu(2) . '', 'cpu(2)', 'mx->context->cpu');
    for my $name (qw(sym symbol gluon autograd mod io init metric)) {
        MxkvTest::dies_like(sub { mx->$name }, qr/^mx->$name is not part of mxkv: .*outside its scope/,
            "mx->$name names mxkv's scope");
    }
    MxkvTest::dies_like(sub { mx->nd->dot(mx->nd->ones([2]), mx->nd->ones([2])) },
        qr/^mx->nd->dot is not part of mxkv: .*operator library is outside its scope/, 'mx->nd->dot names the scope');
    MxkvTest::dies_like(sub { mx->nd->ones([2])->softmax }, qr/^mx->nd->softmax is not part of mxkv/,
        '$x->softmax names the scope');
    ok(!AI::MXNet::NDArray->can('softmax'), 'and can() still says no');
};

done_testing();
