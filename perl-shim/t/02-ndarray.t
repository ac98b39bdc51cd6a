# AI::MXNet::NDArray: what KVStore users do with arrays.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Storable qw(freeze thaw);
use Scalar::Util ();
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

subtest 'creation and properties' => sub {
    my $z = mx->nd->zeros([2, 3]);
    isa_ok($z, 'AI::MXNet::NDArray');
    is_deeply($z->shape, [2, 3], 'shape');
    is($z->size, 6, 'size');
    is($z->ndim, 2, 'ndim');
    is($z->dtype, 'float32', 'float32 by default');
    is($z->context . '', 'cpu(0)', 'cpu(0) by default');
    is($z->stype, 'default', 'dense');
    all_equal($z, 0, 'zeros');
    all_equal(mx->nd->ones([4], dtype => 'int32'), 1, 'ones int32');
    my $o = mx->nd->ones([2, 2], ctx => mx->cpu(3), dtype => 'float64');
    is($o->context . '', 'cpu(3)', 'ctx => cpu(3)');
    is($o->context->device_id, 3, 'device_id');
    is($o->dtype, 'float64', 'dtype => float64');
    is(mx->nd->ones([2], mx->cpu(1))->context . '', 'cpu(1)', 'a context as second argument');
    all_equal(mx->nd->full([3], 2.5), 2.5, 'full');
    is_deeply(mx->nd->empty([5, 1])->shape, [5, 1], 'empty');
    is("$z", '<AI::MXNet::NDArray 2x3 @cpu(0)>', 'stringify');
    is(mx->nd->zeros(4)->shape->[0], 4, 'a number as shape');
    for my $dtype (qw(float32 float64 float16 bfloat16 uint8 int8 int32 int64 int16 uint16 uint32 uint64 bool)) {
        my $a = mx->nd->array([[1, 0], [3, 4]], dtype => $dtype);
        is($a->dtype, $dtype, "dtype $dtype");
        is_deeply([values_of($a)], $dtype eq 'bool' ? [1, 0, 1, 1] : [1, 0, 3, 4], "values as $dtype");
    }
};

subtest 'array from Perl data and PDL, aspdl' => sub {
    my $a = mx->nd->array([[1, 2, 3], [4, 5, 6]]);
    is_deeply($a->shape, [2, 3], 'shape of a nested array ref');
    my $p = $a->aspdl;
    isa_ok($p, 'PDL');
    is_deeply([$p->dims], [3, 2], 'PDL dims are reversed');
    is($p->at(2, 1), 6, 'element [1][2]');
    is_deeply($a->asarray, [[1, 2, 3], [4, 5, 6]], 'asarray');
    my $from_pdl = mx->nd->array(PDL->sequence(4, 2), dtype => 'float64');
    is_deeply($from_pdl->shape, [2, 4], 'from a PDL');
    is_deeply([values_of($from_pdl)], [0 .. 7], 'values');
    my $h = mx->nd->array([0.5, -1.25, 1e-3], dtype => 'float16');
    all_close($h, [0.5, -1.25, 0.0010004], 'float16 round trip', 1e-3);
    is(mx->nd->array([7])->asscalar, 7, 'asscalar');
    is_deeply(mx->nd->array(3)->shape, [1], 'a number gives shape [1]');
    my $copy = mx->nd->array($a, dtype => 'int32');
    is($copy->dtype, 'int32', 'array of an NDArray converts');
    is_deeply([values_of($copy)], [1 .. 6], 'values');
};

subtest 'copies and views' => sub {
    my $a = mx->nd->array([[1, 2], [3, 4], [5, 6]]);
    my $b = $a->copyto(mx->cpu(1));
    is($b->context . '', 'cpu(1)', 'copyto a context');
    is_deeply([values_of($b)], [1 .. 6], 'values');
    my $c = mx->nd->zeros([3, 2]);
    $a->copyto($c);
    is_deeply([values_of($c)], [1 .. 6], 'copyto an array');
    my $d = $a->copy;
    $d += 1;
    is_deeply([values_of($a)], [1 .. 6], 'copy does not share memory');
    is($a->astype('float64')->dtype, 'float64', 'astype');
    is(Scalar::Util::refaddr($a->as_in_context(mx->cpu(0))), Scalar::Util::refaddr($a),
        'as_in_context: same context gives the array itself');

    my $r = $a->reshape([2, -1]);
    is_deeply($r->shape, [2, 3], 'reshape with -1');
    $r += 10;
    is_deeply([values_of($a)], [11 .. 16], 'reshape is a view');
    is_deeply($a->reshape([0, 2])->shape, [3, 2], 'reshape with 0 keeps a dimension');

    my $row = $a->slice(1);
    is_deeply($row->shape, [1, 2], 'slice(1)');
    $row .= 0;
    is_deeply([values_of($a)], [11, 12, 0, 0, 15, 16], 'a slice is a view');
    is_deeply($a->slice([0, 1])->shape, [2, 2], 'slice([0, 1]): the end is inclusive');
    is_deeply([values_of($a->slice([-1]))], [15, 16], 'negative index');
    is_deeply($a->slice('X')->shape, [3, 2], "slice('X')");
    is_deeply([values_of($a->at(2))], [15, 16], 'at');
    is_deeply([values_of($a->at(-3))], [11, 12], 'at with a negative index');
    dies_like(sub { $a->slice(3) }, qr/out of range/, 'slice out of range');
    dies_like(sub { $a->slice(0, 1) }, qr/only supports ->slice on dimension 0/, 'slicing dimension 1');
    dies_like(sub { $a->at(5) }, qr/out of range/, 'at out of range');

    $a .= 7;
    all_equal($a, 7, '.= a number');
    $a .= mx->nd->ones([3, 2]);
    all_equal($a, 1, '.= an array');
    $a .= [[1, 2], [3, 4], [5, 6]];
    is_deeply([values_of($a)], [1 .. 6], '.= Perl data');
    dies_like(sub { $a .= [1, 2] }, qr/Shape inconsistent/, '.= data of another shape');
};

subtest 'arithmetic' => sub {
    my $a = mx->nd->array([1, 2, 3, 4]);
    my $b = mx->nd->array([10, 20, 30, 40]);
    is_deeply([values_of($a + $b)], [11, 22, 33, 44], 'a + b');
    is_deeply([values_of($b - $a)], [9, 18, 27, 36], 'b - a');
    is_deeply([values_of($a * $b)], [10, 40, 90, 160], 'a * b');
    is_deeply([values_of($b / $a)], [10, 10, 10, 10], 'b / a');
    is_deeply([values_of($a + 1)], [2, 3, 4, 5], 'a + 1');
    is_deeply([values_of(1 + $a)], [2, 3, 4, 5], '1 + a');
    is_deeply([values_of($a - 1)], [0, 1, 2, 3], 'a - 1');
    is_deeply([values_of(10 - $a)], [9, 8, 7, 6], '10 - a');
    is_deeply([values_of($a * 3)], [3, 6, 9, 12], 'a * 3');
    is_deeply([values_of(12 / $a)], [12, 6, 4, 3], '12 / a');
    is_deeply([values_of($a / 2)], [0.5, 1, 1.5, 2], 'a / 2');
    is_deeply([values_of(-$a)], [-1, -2, -3, -4], '-a');
    is_deeply([values_of($a->maximum(2.5))], [2.5, 2.5, 3, 4], 'maximum');
    is_deeply([values_of($a->clip(2, 3))], [2, 2, 3, 3], 'clip');
    is_deeply([values_of($a)], [1, 2, 3, 4], 'operands unchanged');

    my $alias = $a;
    $a += $b;
    is_deeply([values_of($alias)], [11, 22, 33, 44], '+= writes in place (an alias sees it)');
    $a -= 1;
    $a *= 2;
    $a /= 4;
    is_deeply([values_of($alias)], [5, 10.5, 16, 21.5], '-= *= /=');
    my $v = $a->slice([1, 2]);
    $v *= 0;
    is_deeply([values_of($a)], [5, 0, 0, 21.5], 'in place through a view');

    my $m = mx->nd->array([[1, 2, 3], [4, 5, 6]]);
    is_deeply([values_of($m + mx->nd->array([10, 20, 30]))], [11, 22, 33, 14, 25, 36], 'broadcast a row');
    is_deeply([values_of($m * mx->nd->array([[2], [3]]))], [2, 4, 6, 12, 15, 18], 'broadcast a column');
    $m -= mx->nd->array([1, 1, 1]);
    is_deeply([values_of($m)], [0 .. 5], 'in place with broadcasting');
    dies_like(sub { $m + mx->nd->ones([4]) }, qr/could not be broadcast together/, 'incompatible shapes');
    dies_like(sub { $m + mx->nd->ones([2, 3], dtype => 'float64') }, qr/different dtypes/, 'different dtypes');
    dies_like(sub { $m + 'abc' }, qr/not a number/, 'a string');

    my $i = mx->nd->array([7, -7, 1], dtype => 'int32');
    is_deeply([values_of($i / 2)], [3, -3, 0], 'integer division truncates');
    is_deeply([values_of($i / mx->nd->zeros([3], dtype => 'int32'))], [0, 0, 0], 'integer division by zero gives 0');
    is_deeply([values_of($i * 1.5)], [10, -10, 1], 'an integer array with a fractional scalar');
    my $u = mx->nd->array([250], dtype => 'uint8');
    is_deeply([values_of($u + 10)], [4], 'uint8 wraps');
    my $h = mx->nd->array([1, 2], dtype => 'float16');
    $h += 0.5;
    is_deeply([values_of($h)], [1.5, 2.5], 'float16 in place');
    my $bf = mx->nd->array([1, 2], dtype => 'bfloat16') * 3;
    is_deeply([values_of($bf)], [3, 6], 'bfloat16');

    my $big = mx->nd->ones([1000, 1000]);
    my $r = $big * 3 + $big;
    $r /= 2;
    my $p = $r->aspdl;
    is($p->min, 2, 'a million elements: min');
    is($p->max, 2, 'max');
};

subtest 'files and Storable' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $a = mx->nd->array([[1, 2], [3, 4]]);
    my $b = mx->nd->array([5, 6, 7], dtype => 'int64', ctx => mx->cpu(1));
    mx->nd->save("$dir/list", [$a, $b]);
    my $list = mx->nd->load("$dir/list");
    is(ref $list, 'ARRAY', 'a list comes back as an array ref');
    is_deeply([map { [values_of($_)] } @$list], [[1 .. 4], [5, 6, 7]], 'values');
    is($list->[1]->dtype, 'int64', 'dtype kept');
    is($list->[1]->context . '', 'cpu(1)', 'context kept');
    mx->nd->save("$dir/named", { w => $a, b => $b });
    my $named = mx->nd->load("$dir/named");
    is_deeply([sort keys %$named], ['b', 'w'], 'names come back as a hash ref');
    is_deeply([values_of($named->{w})], [1 .. 4], 'values');
    my $copy = thaw(freeze({ x => $a }));
    isa_ok($copy->{x}, 'AI::MXNet::NDArray');
    is_deeply([values_of($copy->{x})], [1 .. 4], 'Storable round trip');
    $a += 1;
    is_deeply([values_of($copy->{x})], [1 .. 4], 'a thawed array is a copy');
    dies_like(sub { mx->nd->load("$dir/missing") }, qr/MXNetError/, 'loading a missing file');
};

done_testing;
