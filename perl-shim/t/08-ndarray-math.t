# AI::MXNet::NDArray's spellings: every overload of AI::MXNet's NDArray, lvalue methods, the
# element-wise functions as methods, as mx->nd->f(...) and with out =>, reductions, arange.
use strict;
use warnings;
use Test::More;
use PDL::Lite;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

sub rows { $_[0]->aspdl->unpdl }

subtest 'arithmetic and comparison overloads' => sub {
    my $x = mx->nd->array([[1, -4], [9, 16]]);
    my $y = mx->nd->array([[2, 2], [2, 2]]);
    is_deeply(rows($x % 3), [[1, 2], [0, 1]], '% (sign of the divisor, as MXNet)');
    is_deeply(rows(7 % $y), [[1, 1], [1, 1]], 'number % array');
    is_deeply(rows($x % 0), [[0, 0], [0, 0]], '% 0 gives 0');
    is_deeply(rows($x ** 2), [[1, 16], [81, 256]], '**');
    is_deeply(rows(2 ** $y), [[4, 4], [4, 4]], 'number ** array');
    is_deeply(rows($x ** $y), [[1, 16], [81, 256]], 'array ** array');
    is_deeply(rows(-$x), [[-1, 4], [-9, -16]], 'unary minus');
    is_deeply(rows($x == 9), [[0, 0], [1, 0]], '==');
    is_deeply(rows($x != $y), [[1, 1], [1, 1]], '!=');
    is_deeply(rows($x > 1), [[0, 0], [1, 1]], '>');
    is_deeply(rows($x >= 1), [[1, 0], [1, 1]], '>=');
    is_deeply(rows($x < $y), [[1, 1], [0, 0]], '<');
    is_deeply(rows($x <= 1), [[1, 1], [0, 0]], '<=');
    is_deeply(rows(3 > $x), [[1, 1], [0, 0]], 'number > array (swapped)');
    is(($x == 9)->dtype, 'float32', 'comparisons keep the dtype, 0 and 1 as MXNet');
    is_deeply(rows(sqrt($y * 8)), [[4, 4], [4, 4]], 'sqrt');
    is_deeply(rows(abs($x)), [[1, 4], [9, 16]], 'abs');
    all_close(exp(mx->nd->zeros([2])), [1, 1], 'exp');
    all_close(log(mx->nd->ones([2])), [0, 0], 'log');
    all_close(sin(mx->nd->zeros([1])), [0], 'sin');
    all_close(cos(mx->nd->zeros([1])), [1], 'cos');
    all_close(atan2(mx->nd->ones([1]), 1), [atan2(1, 1)], 'atan2');
    my $m = $x->copy;
    $m %= 4;
    is_deeply(rows($m), [[1, 0], [1, 0]], '%= in place');
    my $ints = mx->nd->array([7, -7], dtype => 'int32');
    is_deeply(($ints % 3)->aspdl->unpdl, [1, 2], 'int32 %');
    is(($ints % 3)->dtype, 'int32', 'int32 stays int32');
    my $row = mx->nd->array([10, 20]);
    is_deeply(rows($x ** 1 + $row), [[11, 16], [19, 36]], 'broadcast +');
    is_deeply(rows(mx->nd->array([[1], [2]]) == mx->nd->array([1, 2])), [[1, 0], [0, 1]], 'broadcast ==');
    dies_like(sub { $x % mx->nd->array([1, 2, 3]) }, qr/could not be broadcast together with shapes \[2 2\] \[3\]/,
        'shapes that do not broadcast');
    dies_like(sub { $x ** $ints }, qr/different dtypes \(float32 and int32\)/, 'dtypes differ');
    dies_like(sub { $x == 'abc' }, qr/operands must be AI::MXNet::NDArrays or numbers/, 'a string operand');
};

subtest 'lvalue at, slice and reshape' => sub {
    my $x = mx->nd->zeros([3, 2]);
    $x->slice(0) .= 1;
    $x->slice([1, 2]) .= 2;
    is_deeply(rows($x), [[1, 1], [2, 2], [2, 2]], 'slice(...) .= writes into the array');
    $x->at(1) += 5;
    $x->at(2) *= 3;
    is_deeply(rows($x), [[1, 1], [7, 7], [6, 6]], 'at(...) += and *= write into the array');
    $x->reshape([6]) .= mx->nd->arange(6);
    is_deeply(rows($x), [[0, 1], [2, 3], [4, 5]], 'reshape(...) .= writes into the array');
    $x->at(0) .= mx->nd->sign($x->at(2) - 5);
    is_deeply(rows($x->at(0)), [-1, 0], 'an expression into a row');
};

subtest 'element-wise functions: methods, class methods, out =>' => sub {
    my $x = mx->nd->array([4, -9, 0.25]);
    for my $case (
        [sqrt => [2, 'nan', 0.5]], [abs => [4, 9, 0.25]], [square => [16, 81, 0.0625]],
        [sign => [1, -1, 1]], [reciprocal => [0.25, -1 / 9, 4]], [rsqrt => [0.5, 'nan', 2]],
        [floor => [4, -9, 0]], [ceil => [4, -9, 1]], [round => [4, -9, 0]], [relu => [4, 0, 0.25]],
        [exp => [exp(4), exp(-9), exp(0.25)]], [tanh => [map { (exp(2 * $_) - 1) / (exp(2 * $_) + 1) } 4, -9, 0.25]],
        [sigmoid => [map { 1 / (1 + exp(-$_)) } 4, -9, 0.25]],
    ) {
        my ($name, $want) = @$case;
        my @got = @{ mx->nd->$name($x)->aspdl->unpdl };
        my @method = @{ $x->$name->aspdl->unpdl };
        my $ok = 1;
        for my $i (0 .. $#$want) {
            if ($want->[$i] eq 'nan') { $ok &&= $got[$i] != $got[$i] && $method[$i] != $method[$i] }
            else { $ok &&= abs($got[$i] - $want->[$i]) <= 1e-5 * (1 + abs($want->[$i])) && $method[$i] == $got[$i] }
        }
        ok($ok, "$name as mx->nd->$name and \$x->$name") or diag("got @got / @method, want @$want");
    }
    my $g = mx->nd->array([1, -2, 3]);
    my $same = mx->nd->square($g, out => $g);
    is_deeply($g->aspdl->unpdl, [1, 4, 9], 'square(out => $g) writes in place');
    is(Scalar::Util::refaddr($same), Scalar::Util::refaddr($g), 'and returns out');
    mx->nd->sqrt($g->at(2)->reshape([1]), out => $g->at(2)->reshape([1]));
    is_deeply($g->aspdl->unpdl, [1, 4, 3], 'out => a view writes into the viewed array');
    my $m = mx->nd->zeros([2, 2]);
    mx->nd->sqrt(mx->nd->array([[1, 4], [9, 16]]), out => $m);
    is_deeply(rows($m), [[1, 2], [3, 4]], 'sqrt(out => another array)');
    dies_like(sub { mx->nd->sqrt($x, out => mx->nd->zeros([2])) }, qr/result of shape \[3\] does not fit the array of shape \[2\]/,
        'out of another shape');
    dies_like(sub { mx->nd->sqrt([1, 2]) }, qr/sqrt: the data must be an AI::MXNet::NDArray/, 'sqrt of a plain array ref');
    dies_like(sub { mx->nd->sqrt($x, outt => $x) }, qr/sqrt: unknown option 'outt'/, 'a misspelt option');
};

subtest 'clip, maximum, minimum, power and the comparisons as functions' => sub {
    my $x = mx->nd->array([-3, -0.5, 0.5, 3]);
    is_deeply(mx->nd->clip($x, -1, 1)->aspdl->unpdl, [-1, -0.5, 0.5, 1], 'mx->nd->clip($x, lo, hi)');
    is_deeply($x->clip(0, 2)->aspdl->unpdl, [0, 0, 0.5, 2], '$x->clip(lo, hi)');
    is_deeply(mx->nd->clip($x, a_min => -2, a_max => 0)->aspdl->unpdl, [-2, -0.5, 0, 0], 'a_min => a_max =>');
    my $c = $x->copy;
    mx->nd->clip($c, -1, 1, out => $c);
    is_deeply($c->aspdl->unpdl, [-1, -0.5, 0.5, 1], 'clip(out => $c) in place');
    is_deeply(mx->nd->maximum($x, 0)->aspdl->unpdl, [0, 0, 0.5, 3], 'mx->nd->maximum($x, 0)');
    is_deeply(mx->nd->maximum(0, $x)->aspdl->unpdl, [0, 0, 0.5, 3], 'mx->nd->maximum(0, $x)');
    is_deeply(mx->nd->minimum($x, mx->nd->zeros([4]))->aspdl->unpdl, [-3, -0.5, 0, 0], 'minimum of two arrays');
    is_deeply($x->maximum(1)->aspdl->unpdl, [1, 1, 1, 3], '$x->maximum(1)');
    my $o = mx->nd->zeros([4]);
    mx->nd->minimum($x, 0, out => $o);
    is_deeply($o->aspdl->unpdl, [-3, -0.5, 0, 0], 'minimum(out => ...)');
    is_deeply(mx->nd->power($x, 2)->aspdl->unpdl, [9, 0.25, 0.25, 9], 'mx->nd->power($x, 2)');
    is(mx->nd->power(0.5, 2), 0.25, 'power of two numbers is a number');
    is_deeply(mx->nd->modulo(mx->nd->array([5, -5]), 3)->aspdl->unpdl, [2, 1], 'mx->nd->modulo');
    is_deeply(mx->nd->greater($x, 0)->aspdl->unpdl, [0, 0, 1, 1], 'mx->nd->greater');
    is_deeply(mx->nd->lesser_equal($x, -0.5)->aspdl->unpdl, [1, 1, 0, 0], 'mx->nd->lesser_equal');
    is_deeply(mx->nd->equal($x, 3)->aspdl->unpdl, [0, 0, 0, 1], 'mx->nd->equal');
    dies_like(sub { mx->nd->clip($x, 0) }, qr/clip: a_min and a_max must both be numbers/, 'clip without a_max');
    dies_like(sub { mx->nd->maximum(1, 2) }, qr/maximum: one operand must be an AI::MXNet::NDArray/,
        'maximum of two numbers');
    dies_like(sub { mx->nd->clip('AI::MXNet::NDArray', 0, 1) }, qr/clip: the data must be an AI::MXNet::NDArray/,
        'clip of a class name');
};

subtest 'norm, sum, mean' => sub {
    my $x = mx->nd->array([[3, -4], [1, 2]]);
    is_deeply($x->norm->shape, [1], 'norm has shape [1]');
    all_close($x->norm, [sqrt(30)], 'L2 norm');
    all_close(mx->nd->norm($x, ord => 1), [10], 'L1 norm');
    all_close(mx->nd->norm($x, axis => 1), [5, sqrt(5)], 'norm over axis 1');
    is_deeply(mx->nd->norm($x, axis => 0, keepdims => 1)->shape, [1, 2], 'keepdims');
    is_deeply($x->sum->aspdl->unpdl, [2], 'sum of everything');
    is_deeply(mx->nd->sum($x, axis => 0)->aspdl->unpdl, [4, -2], 'sum over axis 0');
    is_deeply(mx->nd->sum($x, axis => -1)->aspdl->unpdl, [-1, 3], 'sum over axis -1');
    is_deeply($x->mean(axis => [0, 1])->aspdl->unpdl, [0.5], 'mean over both axes');
    dies_like(sub { $x->norm(ord => 3) }, qr/norm: ord must be 1 or 2, not 3/, 'ord 3');
    dies_like(sub { $x->sum(axis => 2) }, qr/sum: axis 2 is out of range for an array of 2 dimensions/, 'axis out of range');
};

subtest 'arange, creation with out =>, stype, tostype' => sub {
    is_deeply(mx->nd->arange(4)->aspdl->unpdl, [0, 1, 2, 3], 'arange($stop)');
    is_deeply(mx->nd->arange(start => 1, stop => 2, step => 0.25)->aspdl->unpdl, [1, 1.25, 1.5, 1.75], 'named');
    is_deeply(mx->nd->arange(0, 3, repeat => 2)->aspdl->unpdl, [0, 0, 1, 1, 2, 2], 'repeat');
    my $i = mx->nd->arange(stop => 3, dtype => 'int64', ctx => mx->cpu(2));
    is($i->dtype, 'int64', 'dtype');
    is($i->context . '', 'cpu(2)', 'ctx');
    is_deeply(mx->nd->arange(5, 1)->shape, [0], 'an empty range');
    dies_like(sub { mx->nd->arange(0, 3, 0) }, qr/arange: step must not be 0/, 'step 0');
    dies_like(sub { mx->nd->arange(3, colour => 1) }, qr/arange: unknown argument\(s\): colour/, 'unknown argument');
    my $o = mx->nd->ones([2, 2]);
    my $r = mx->nd->zeros([2, 2], out => $o);
    all_equal($o, 0, 'zeros(out => $o) fills $o');
    is(Scalar::Util::refaddr($r), Scalar::Util::refaddr($o), 'and returns it');
    mx->nd->ones([2, 2], out => $o);
    all_equal($o, 1, 'ones(out => ...)');
    mx->nd->full([2, 2], 7, out => $o);
    all_equal($o, 7, 'full(out => ...)');
    dies_like(sub { mx->nd->zeros([3], out => $o) }, qr/full: out has shape \[2 2\], not \[3\]/, 'out of another shape');
    dies_like(sub { mx->nd->empty([3], out => $o) }, qr/empty: unknown argument\(s\): out/, 'empty has no out');
    is(mx->nd->zeros([2], stype => 'default')->stype, 'default', "stype => 'default'");
    is_deeply(mx->nd->ones([2])->tostype('default')->aspdl->unpdl, [1, 1], "tostype('default') copies");
};

done_testing();
