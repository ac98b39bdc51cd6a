# Bad input from Perl: each gives a Perl error carrying the library's message, changes nothing,
# and the program goes on.
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);

my $shape = [4, 4];

sub store
{
    my $kv = mx->kv->create('local');
    $kv->init(3, mx->nd->ones($shape));
    $kv->init([5, 7], [mx->nd->ones($shape) * 5, mx->nd->ones($shape) * 7]);
    return $kv;
}

sub value_of
{
    my ($kv, $key) = @_;
    my $out = mx->nd->zeros($shape);
    $kv->pull($key, out => $out);
    return $out;
}

subtest 'unknown and duplicate keys' => sub {
    my $kv = store();
    my $out = mx->nd->zeros($shape);
    dies_like(sub { $kv->pull('nokey', out => $out) }, qr/MXNetError: .*key nokey doesn't exist\. Did you init\?/,
        'pull of an unknown key');
    dies_like(sub { $kv->push(4, mx->nd->ones($shape)) }, qr/key 4 doesn't exist/, 'push of an unknown key');
    dies_like(sub { $kv->push([5, 8], [mx->nd->ones($shape), mx->nd->ones($shape)]) }, qr/key 8 doesn't exist/,
        'an unknown key in the middle of a list');
    all_equal(value_of($kv, 5), 5, 'the valid key of that list was not pushed');
    dies_like(sub { $kv->init(3, mx->nd->ones($shape)) }, qr/duplicate init of key 3/, 'a second init');
    all_equal(value_of($kv, 3), 1, 'the value is unchanged');
    $kv->push(3, mx->nd->ones($shape) * 9);
    all_equal(value_of($kv, 3), 9, 'and the store still works');
};

subtest 'mixed key types' => sub {
    my $handle = AI::MXNet::Base::check_call(AI::MXNetCAPI::KVStoreCreate('local'));
    my $v = mx->nd->ones([2]);
    AI::MXNet::Base::check_call(AI::MXNetCAPI::KVStoreInit($handle, 1, [1], [$v->handle]));
    my $kv = AI::MXNet::KVStore->new(handle => $handle);
    dies_like(sub { $kv->push(1, $v) }, qr/Mixed key types are not allowed/,
        'an int-keyed store refuses the string keys AI::MXNet sends');
    my $out = mx->nd->zeros([2]);
    AI::MXNet::Base::check_call(AI::MXNetCAPI::KVStorePull($handle, 1, [1], [$out->handle]));
    all_equal($out, 1, 'its int keys still work');
};

subtest 'wrong shapes' => sub {
    my $kv = store();
    dies_like(sub { $kv->push(3, mx->nd->ones([3, 3])) }, qr/operands shape mismatch/, 'push of another shape');
    dies_like(sub { $kv->push(3, [mx->nd->ones($shape), mx->nd->ones([2, 8])]) }, qr/shape mismatch/,
        'one device with another shape');
    all_equal(value_of($kv, 3), 1, 'nothing was stored');
    my $small = mx->nd->zeros([2, 2]);
    dies_like(sub { $kv->pull(3, out => $small) }, qr/operands shape mismatch/, 'pull into another shape');
    all_equal($small, 0, 'the output is untouched');
    dies_like(sub { $kv->init(11, mx->nd->ones($shape) + mx->nd->ones([3])) }, qr/could not be broadcast/,
        'arithmetic on incompatible shapes');
};

subtest 'values convert, and the store keeps its own copy' => sub {
    my $kv = store();
    my $pushed = mx->nd->ones($shape, dtype => 'float64') * 2;
    $kv->push(3, $pushed);
    $pushed += 100;
    my $out = mx->nd->zeros($shape, dtype => 'int32');
    $kv->pull(3, out => $out);
    all_equal($out, 2, 'float64 pushed into a float32 key, pulled as int32; later writes to the pushed array do not leak in');
};

subtest 'an updater that dies' => sub {
    my $kv = store();
    my $calls = 0;
    $kv->_set_updater(sub {
        my ($index, $input, $stored) = @_;
        $calls++;
        die "bad gradient for index $index\n" if $index == 1;
        $stored += $input;
    });
    my $err = dies_like(sub { $kv->push([3, 5, 7], [map { mx->nd->ones($shape) } 1 .. 3]) },
        qr/^MXNetError: Perl updater died: bad gradient for index 1/, 'the push dies with the updater\'s message');
    like($err, qr{called at t/05-errors\.t line}, 'confess says where the push was');
    is($calls, 2, 'the updater ran for keys 3 and 5, not after the die');
    all_equal(value_of($kv, 3), 2, 'key 3 (before the failing key) was updated');
    all_equal(value_of($kv, 5), 5, 'key 5 kept its value');
    all_equal(value_of($kv, 7), 7, 'key 7 (after it) kept its value');
    $kv->push(7, mx->nd->ones($shape));
    all_equal(value_of($kv, 7), 8, 'the next push goes through the updater again');

    $kv->_set_updater(sub { my ($i, $input, $stored) = @_; $stored += $input * 'x' });
    dies_like(sub { $kv->push(3, mx->nd->ones($shape)) }, qr/Perl updater died: 'x' is not a number/,
        'an error inside NDArray arithmetic in the updater');
    $kv->_set_updater(undef);
    $kv->push(3, mx->nd->ones($shape) * 4);
    all_equal(value_of($kv, 3), 4, 'without an updater, push assigns again');
};

subtest 'freed and foreign handles' => sub {
    my $kv = store();
    my $nd = mx->nd->ones($shape);
    AI::MXNet::Base::check_call(AI::MXNetCAPI::NDArrayFree($nd->handle));
    dies_like(sub { $kv->push(3, $nd) }, qr/already freed/, 'pushing a freed array');
    dies_like(sub { $nd->shape }, qr/no longer valid/, 'asking a freed array its shape');
    all_equal(value_of($kv, 3), 1, 'the store is unchanged');
    no_warnings_from(sub { undef $nd }, 'the freed array goes away without a second free');

    my $kv2 = mx->kv->create('local');
    AI::MXNet::Base::check_call(AI::MXNetCAPI::KVStoreFree($kv2->handle));
    dies_like(sub { $kv2->init(1, mx->nd->ones([1])) }, qr/KVStore handle .*(freed|no longer valid)/,
        'using a freed store');
    no_warnings_from(sub { undef $kv2 }, 'which goes away quietly');
    dies_like(sub { AI::MXNet::NDArray->new(handle => 'not a handle') }, qr/needs a handle/,
        'an NDArray needs a real handle');
};

subtest 'bad arguments' => sub {
    my $kv = store();
    # AI::MXNet's signature checks and messages.
    dies_like(sub { $kv->pull(3) }, qr/^Too few arguments for method pull/, 'pull without out');
    dies_like(sub { $kv->pull(3, undef, mx->nd->zeros($shape)) }, qr/^In method pull: /, 'pull with undef for out');
    dies_like(sub { $kv->init(undef, mx->nd->zeros($shape)) }, qr/^In method init: parameter 1 \(\$key\)/,
        'an undefined key');
    dies_like(sub { $kv->push(3, 'x') },
        qr/^In method push: parameter 2 \(\$value\): Validation failed for 'AI::MXNet::NDArray\|ArrayRef\[AI::MXNet::NDArray\]\|ArrayRef\[ArrayRef\[AI::MXNet::NDArray\]\]' with value x /,
        'a value that is no array');
    dies_like(sub { $kv->push({}, mx->nd->ones($shape)) },
        qr/^In method push: parameter 1 \(\$key\): Validation failed for 'ArrayRef\[Str\]\|Str'/, 'a hash as key');
    dies_like(sub { $kv->pull(3, out => 'x') }, qr/^In method pull: parameter 2 \(\$out\): Validation failed/,
        'pull into a string');
    dies_like(sub { $kv->push(3, []) }, qr/^AssertionError: the value of key '3' must be an NDArray/,
        'an empty list of values');
    dies_like(sub { $kv->push(3, [[mx->nd->ones($shape)]]) }, qr/^AssertionError: the value of key '3'/,
        'a nested list for one key');
    dies_like(sub { $kv->push([3, 5], [mx->nd->ones($shape)]) }, qr/^AssertionError: .*one entry per key/,
        'fewer values than keys');
    dies_like(sub { $kv->init([7, 9], mx->nd->ones($shape)) }, qr/^AssertionError: .*one entry per key/,
        'one array for a list of keys');
    dies_like(sub { $kv->push(3, mx->nd->ones($shape), prio => 1) },
        qr/^In method push: no such named parameter: prio/, 'a misspelt option');
    dies_like(sub { $kv->push(3, mx->nd->ones($shape), priority => 'high') },
        qr/^In method push: parameter 3 \(\$priority\): Validation failed for 'Int'/, 'a priority that is no number');
    dies_like(sub { mx->nd->ones([2], ctx => mx->gpu(0)) }, qr/MXNetError: .*gpu/, 'an array on a GPU');
    dies_like(sub { mx->nd->ones([2], dtype => 'float8') }, qr/unknown dtype 'float8'/, 'an unknown dtype');
    dies_like(sub { mx->kv->create('nccl') }, qr/MXNetError: .*nccl/, 'an nccl store');
    dies_like(sub { $kv->set_optimizer('sgd') }, qr/expected an AI::MXNet::Optimizer/, 'set_optimizer of a string');
    dies_like(sub { AI::MXNet::Optimizer->create_optimizer('adamw') }, qr/Cannot find optimizer adamw/,
        'an unknown optimizer');
    SKIP: {
        skip('the library has row_sparse storage: row_sparse_pull is exercised with sparse arrays', 1)
            if AI::MXNetCAPI->can('KVStorePullRowSparseEx');
        dies_like(sub { $kv->row_sparse_pull(3, out => mx->nd->zeros($shape), row_ids => mx->nd->array([0])) },
            qr/no row_sparse storage/, 'row_sparse_pull says the build has no sparse storage');
    }
    $kv->push(3, mx->nd->ones($shape) * 3);
    all_equal(value_of($kv, 3), 3, 'after all that, the store works');
};

done_testing;
