# row_sparse and csr arrays (mx->nd->sparse, tostype, stype =>) and row_sparse values in a store:
# push of rows from several devices, pull, row_sparse_pull (reference §3.4-3.6).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);
use AI::MXNet::TestUtils qw(rand_ndarray);

my $shape = [4, 2];

# A row_sparse array of $shape with rows @$rows set to $value.
sub rows
{
    my ($rows, $value) = @_;
    my $dense = mx->nd->zeros($shape);
    my $pdl = $dense->aspdl;
    $pdl->slice(":,$_") .= $value for @$rows;
    return mx->nd->array($pdl)->tostype('row_sparse');
}

subtest 'row_sparse arrays' => sub {
    my $a = mx->nd->sparse->row_sparse_array([[[1, 2], [3, 4]], [0, 3]], shape => $shape);
    isa_ok($a, 'AI::MXNet::NDArray::RowSparse');
    is($a->stype, 'row_sparse', 'stype');
    is_deeply($a->shape, $shape, 'the full shape');
    is_deeply($a->indices->aspdl->unpdl, [0, 3], 'indices');
    is_deeply($a->data->aspdl->unpdl, [[1, 2], [3, 4]], 'data');
    is_deeply($a->aspdl->unpdl, [[1, 2], [0, 0], [0, 0], [3, 4]], 'dense values');
    my $z = mx->nd->zeros($shape, stype => 'row_sparse');
    is($z->indices->size, 0, 'zeros store no row');
    my $r = mx->nd->array([[0, 0], [1, 0], [0, 0], [0, 2]])->tostype('row_sparse');
    is_deeply($r->indices->aspdl->unpdl, [1, 3], 'tostype keeps the non-zero rows');
    my $c = mx->nd->array([[0, 1], [2, 0]])->tostype('csr');
    is_deeply($c->indptr->aspdl->unpdl, [0, 1, 2], 'csr indptr');
    is_deeply($c->indices->aspdl->unpdl, [1, 0], 'csr column ids');
    ok(!eval { mx->nd->sparse->row_sparse_array([[[1, 1], [1, 1]], [3, 1]], shape => $shape); 1 },
       'unsorted row ids are refused');
    like($@, qr/ascending order/, 'with MXNet\'s message');
};

subtest 'arithmetic, copies, files' => sub {
    my $a = rows([1], 2);
    my $b = $a * 3;
    isa_ok($b, 'AI::MXNet::NDArray::RowSparse', 'a scalar product');
    is_deeply($b->aspdl->unpdl, [[0, 0], [6, 6], [0, 0], [0, 0]], 'its values');
    my $d = mx->nd->ones($shape);
    $d += $a;
    is_deeply($d->aspdl->unpdl, [[1, 1], [3, 3], [1, 1], [1, 1]], 'dense += row_sparse');
    my $copy = $a->copyto(mx->cpu(2));
    is($copy->context->device_id, 2, 'copy to another device');
    is_deeply($copy->aspdl->unpdl, $a->aspdl->unpdl, 'same values');
    my $dir = tempdir(CLEANUP => 1);
    mx->nd->save("$dir/s.params", { a => $a });
    my $back = mx->nd->load("$dir/s.params");
    isa_ok($back->{a}, 'AI::MXNet::NDArray::RowSparse', 'loaded');
    is_deeply($back->{a}->aspdl->unpdl, $a->aspdl->unpdl, 'loaded values');
};

subtest 'push sums the rows of several devices' => sub {
    my $kv = mx->kv->create('local');
    $kv->init('w', mx->nd->zeros($shape));
    $kv->push('w', [rows([1], 2)->copyto(mx->cpu(1)), rows([3], 5)->copyto(mx->cpu(2)), rows([1], 1)]);
    my $out = mx->nd->empty($shape);
    $kv->pull('w', out => $out);
    is_deeply($out->aspdl->unpdl, [[0, 0], [3, 3], [0, 0], [5, 5]], 'union of rows, summed');
    my $target = rows([0], 7);
    $kv->pull('w', out => $target);
    is_deeply($target->indices->aspdl->unpdl, [0], 'pull skips row_sparse outputs by default');
    $kv->pull('w', out => $target, ignore_sparse => 0);
    is_deeply($target->indices->aspdl->unpdl, [1, 3], 'and fills them with ignore_sparse => 0');
};

subtest 'row_sparse_pull' => sub {
    my $kv = mx->kv->create('local');
    $kv->init('e', mx->nd->ones($shape)->tostype('row_sparse'));
    my $out = mx->nd->zeros($shape, stype => 'row_sparse');
    $kv->row_sparse_pull('e', out => $out, row_ids => mx->nd->array([[3, 1], [3, 3]]));
    is_deeply($out->indices->aspdl->unpdl, [1, 3], 'sorted unique ids');
    is_deeply($out->aspdl->unpdl, [[0, 0], [1, 1], [0, 0], [1, 1]], 'the rows');
    my @outs = map { mx->nd->zeros($shape, stype => 'row_sparse') } 1 .. 3;
    $kv->row_sparse_pull('e', out => \@outs, row_ids => mx->nd->array([2]));
    is_deeply([map { $_->indices->aspdl->unpdl } @outs], [[2], [2], [2]], 'one id list, three outputs');
    ok(!eval { $kv->row_sparse_pull('e', out => mx->nd->zeros($shape), row_ids => mx->nd->array([1])); 1 },
       'a dense output is refused');
    like($@, qr/Expected row_sparse storage type/, 'with MXNet\'s message');
    my $r = rand_ndarray($shape, 'row_sparse');
    isa_ok($r, 'AI::MXNet::NDArray::RowSparse', 'rand_ndarray');
};

done_testing();
