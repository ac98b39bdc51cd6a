package AI::MXNet::NDArray::Sparse;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util qw(blessed);
use PDL::Lite;
use AI::MXNetCAPI;
use AI::MXNet::Base qw(check_call DTYPE_STR_TO_MX DTYPE_MX_TO_PDL STORAGE_TYPE_STR_TO_ID);
use AI::MXNet::NDArray;
our @ISA = ('AI::MXNet::NDArray');

# The operators are bound to functions, not methods: a subclass names its own.
use overload
    '""' => \&stringify,
    '+'  => \&add,
    '+=' => \&iadd,
    '-'  => \&subtract,
    '-=' => \&isubtract,
    '*'  => \&multiply,
    '*=' => \&imultiply,
    '/'  => \&divide,
    '/=' => \&idivide,
    '.=' => \&set;

# Sparse arrays on the library's blobs: a row_sparse array of shape [R, ...] stores k rows
# (data [k, ...], indices [k], ascending); a csr matrix stores data, column indices and indptr.
# The library keeps the blobs and checks their format; this module builds them from PDL data
# and reads them back.

use constant INT64 => DTYPE_STR_TO_MX->{int64};

# ---- mx->nd->sparse: creation -----------------------------------------------------------------

sub _class_of_stype
{
    my $stype = shift;
    return { row_sparse => 'AI::MXNet::NDArray::RowSparse', csr => 'AI::MXNet::NDArray::CSR' }->{$stype}
        // confess("unknown storage type '$stype' (known: default, row_sparse, csr)");
}

# A new sparse array with int64 aux arrays of the given lengths.
sub _new_sparse
{
    my ($stype, $shape, $ctx, $dtype, @aux_lengths) = @_;
    my $n = @aux_lengths;
    my $handle = check_call(AI::MXNetCAPI::NDArrayCreateSparseEx(
        STORAGE_TYPE_STR_TO_ID->{$stype}, $shape, scalar(@$shape), $ctx->device_type_id, $ctx->device_id, 0,
        AI::MXNet::NDArray::_dtype_code($dtype), $n, [(INT64) x $n], [(1) x $n], \@aux_lengths));
    return _class_of_stype($stype)->new(handle => $handle);
}

# zeros($stype, $shape, ctx => ..., dtype => ...): nothing stored.
sub zeros
{
    my ($class, $stype, $shape, @args) = @_;
    my ($ctx, $dtype) = AI::MXNet::NDArray::_creation_args('zeros', 0, @args);
    $shape = AI::MXNet::NDArray::_check_shape($shape);
    return AI::MXNet::NDArray->zeros($shape, ctx => $ctx, dtype => $dtype) if $stype eq 'default';
    return _new_sparse($stype, $shape, $ctx, $dtype, $stype eq 'csr' ? ($shape->[0] + 1, 0) : (0));
}

sub empty { my $class = shift; $class->zeros(@_) }

# array($source, stype => ..., ctx => ..., dtype => ...): the values of a dense source (NDArray,
# PDL or array ref) in sparse storage.
sub array
{
    my ($class, $source, %args) = @_;
    my $stype = delete $args{stype} // 'row_sparse';
    my $pdl = blessed($source) && $source->isa('AI::MXNet::NDArray') ? $source->aspdl
            : blessed($source) && $source->isa('PDL')                ? $source
            :                                                          PDL::Core::pdl($source);
    $args{dtype} //= blessed($source) && $source->isa('AI::MXNet::NDArray') ? $source->dtype : 'float32';
    my $out = $class->zeros($stype, [reverse $pdl->dims], %args);
    $out->_assign_dense($pdl);
    return $out;
}

# row_sparse_array([$data, $indices], shape => [...], ctx => ..., dtype => ...), or from dense data.
sub row_sparse_array
{
    my ($class, $arg, %args) = @_;
    return $class->array($arg, %args, stype => 'row_sparse') unless ref $arg eq 'ARRAY' and @$arg == 2
        and exists $args{shape};
    my ($data, $indices) = map { _pdl($_) } @$arg;
    my $shape = delete $args{shape} // confess('row_sparse_array: shape => is required');
    my $out = $class->zeros('row_sparse', $shape, %args);
    $out->_set_rows($data, $indices);
    check_call(AI::MXNetCAPI::NDArraySyncCheckFormat($out->handle, 1));
    return $out;
}

# csr_matrix([$data, $indices, $indptr], shape => [...], ...), or from dense data.
sub csr_matrix
{
    my ($class, $arg, %args) = @_;
    return $class->array($arg, %args, stype => 'csr') unless ref $arg eq 'ARRAY' and @$arg == 3
        and exists $args{shape};
    my ($data, $indices, $indptr) = map { _pdl($_) } @$arg;
    my $shape = delete $args{shape} // confess('csr_matrix: shape => is required');
    my $out = $class->zeros('csr', $shape, %args);
    $out->_set_blob(-1, $data, $out->dtype);
    $out->_set_blob(0, $indptr, 'int64');
    $out->_set_blob(1, $indices, 'int64');
    check_call(AI::MXNetCAPI::NDArraySyncCheckFormat($out->handle, 1));
    return $out;
}

# A PDL of int64 ids.
sub _ids { PDL::Core::pdl(PDL::Type->new('longlong'), $_[0]) }

sub _pdl { blessed($_[0]) && $_[0]->isa('AI::MXNet::NDArray') ? $_[0]->aspdl : PDL::Core::pdl($_[0]) }

# ---- blobs ----------------------------------------------------------------------------------------

# Copies PDL $values into the data blob (-1) or aux blob $i, through a dense array of $dtype.
sub _set_blob
{
    my ($self, $i, $values, $dtype) = @_;
    my $shape = [reverse $values->dims];
    my $blob = AI::MXNet::NDArray->empty($shape, dtype => $dtype);
    $blob->_sync_copyfrom($values) if $values->nelem;
    check_call(AI::MXNetCAPI::NDArraySyncCopyFromNDArray($self->handle, $blob->handle, $i));
}

sub _aux
{
    my ($self, $i) = @_;
    return AI::MXNet::NDArray->new(handle => scalar(check_call(AI::MXNetCAPI::NDArrayGetAuxNDArray($self->handle, $i))));
}

# A dense copy of the stored values.
sub data
{
    my $self = shift;
    return AI::MXNet::NDArray->new(handle => scalar(check_call(AI::MXNetCAPI::NDArrayGetDataNDArray($self->handle))));
}

sub check_format
{
    my ($self, $full) = @_;
    check_call(AI::MXNetCAPI::NDArraySyncCheckFormat($self->handle, $full // 1 ? 1 : 0));
}

# ---- what dense arrays do, on the dense values ------------------------------------------------

sub asarray { $_[0]->aspdl->unpdl }

sub tostype
{
    my ($self, $stype) = @_;
    return AI::MXNet::NDArray->array($self->aspdl, ctx => $self->context, dtype => $self->dtype)
        if $stype eq 'default';
    return __PACKAGE__->array($self->aspdl, stype => $stype, ctx => $self->context, dtype => $self->dtype);
}

sub copyto
{
    my ($self, $other) = @_;
    if (blessed($other) and $other->isa('AI::MXNet::Context')) {
        my $copy = __PACKAGE__->zeros($self->stype, $self->shape, ctx => $other, dtype => $self->dtype);
        $copy->_assign_from($self);
        return $copy;
    }
    confess('copyto: the target must be an NDArray or a Context')
        unless blessed($other) and $other->isa('AI::MXNet::NDArray');
    if ($other->isa(__PACKAGE__)) {
        $other->_assign_from($self);
    }
    else {
        $other->_sync_copyfrom($self->aspdl);
    }
    return $other;
}

sub copy { $_[0]->copyto($_[0]->context) }

sub set
{
    my ($self, $value) = @_;
    confess('Array is not writable') unless $self->writable;
    my $pdl = blessed($value) && $value->isa('AI::MXNet::NDArray') ? $value->aspdl : PDL::Core::pdl($value);
    my $dense = PDL->new_from_specification($pdl->type, reverse @{ $self->shape });
    $dense .= $pdl;
    $self->_assign_dense($dense);
    return $self;
}

sub _assign_from { $_[0]->_assign_dense($_[1]->aspdl) }

# Arithmetic runs on a dense copy; a result with a number keeps the storage type (MXNet's
# scalar operators on sparse arrays), one with an array is dense.
sub _sparse_apply
{
    my ($op, $self, $other, $swapped) = @_;
    my $dense = AI::MXNet::NDArray->array($self->aspdl, ctx => $self->context, dtype => $self->dtype);
    $other = AI::MXNet::NDArray->array($other->aspdl, ctx => $other->context, dtype => $other->dtype)
        if blessed($other) and $other->isa(__PACKAGE__);
    my $result = $dense->$op($other, $swapped);
    return ref $other ? $result : $result->tostype($self->stype);
}

sub add      { _sparse_apply('add', @_) }
sub subtract { _sparse_apply('subtract', @_) }
sub multiply { _sparse_apply('multiply', @_) }
sub divide   { _sparse_apply('divide', @_) }

sub _sparse_inplace
{
    my ($op, $self, $other) = @_;
    confess('trying to modify a readonly NDArray') unless $self->writable;
    my $result = _sparse_apply($op, $self, $other, 0);
    $self->_assign_dense($result->aspdl, blessed($other) && $other->isa(__PACKAGE__) ? $other : undef);
    return $self;
}

sub iadd      { _sparse_inplace('add', @_) }
sub isubtract { _sparse_inplace('subtract', @_) }
sub imultiply { _sparse_inplace('multiply', @_) }
sub idivide   { _sparse_inplace('divide', @_) }

sub stringify
{
    my $self = shift;
    return sprintf('<%s %s @%s>', ref($self), join('x', @{ $self->shape }), $self->context);
}

package AI::MXNet::NDArray::RowSparse;
use strict;
use warnings;
use Carp qw(confess);
use Scalar::Util qw(blessed);
use AI::MXNet::Base qw(DTYPE_MX_TO_PDL);
our @ISA = ('AI::MXNet::NDArray::Sparse');

# A dense copy of the stored row ids.
sub indices { $_[0]->_aux(0) }

sub aspdl
{
    my $self = shift;
    my $shape = $self->shape;
    my $type = PDL::Type->new(DTYPE_MX_TO_PDL->{ AI::MXNet::NDArray::_dtype_code($self->dtype) });
    my $dense = PDL->new_from_specification($type, reverse @$shape);
    $dense .= 0;
    my $ids = $self->indices->aspdl;
    return $dense unless $ids->nelem;
    $dense->dice_axis($dense->ndims - 1, $ids) .= $self->data->aspdl;
    return $dense;
}

# Stores the rows of PDL $values that are non-zero, with this array's rows and $keep's (the
# union a sparse sum keeps).
sub _assign_dense
{
    my ($self, $values, $keep) = @_;
    my $last = $values->ndims - 1;
    my $flat = $last > 0 ? $values->clump($last) : $values->dummy(0);
    my %rows = map { $_ => 1 } PDL::Primitive::which(($flat != 0)->orover)->list;
    $rows{$_} = 1 for $self->indices->aspdl->list;
    $rows{$_} = 1 for ($keep && $keep->isa(__PACKAGE__) ? $keep->indices->aspdl->list : ());
    my $ids = AI::MXNet::NDArray::Sparse::_ids([sort { $a <=> $b } keys %rows]);
    my $data = $ids->nelem ? $values->dice_axis($last, $ids)
             : PDL->new_from_specification($values->type, ($values->dims)[0 .. $last - 1], 0);
    $self->_set_rows($data, $ids);
}

sub _set_rows
{
    my ($self, $data, $ids) = @_;
    $self->_set_blob(-1, $data, $self->dtype);
    $self->_set_blob(0, $ids, 'int64');
}

# A row_sparse array with only the rows of $indices that this one stores.
sub retain
{
    my ($self, $indices) = @_;
    my %want = map { $_ => 1 } (blessed($indices) ? $indices->aspdl->list : @$indices);
    my @mine = $self->indices->aspdl->list;
    my @keep = grep { $want{ $mine[$_] } } 0 .. $#mine;
    my $out = AI::MXNet::NDArray::Sparse->zeros('row_sparse', $self->shape, ctx => $self->context,
                                                dtype => $self->dtype);
    return $out unless @keep;
    my $data = $self->data->aspdl;
    my $keep = AI::MXNet::NDArray::Sparse::_ids(\@keep);
    $out->_set_rows($data->dice_axis($data->ndims - 1, $keep), AI::MXNet::NDArray::Sparse::_ids([@mine[@keep]]));
    return $out;
}

package AI::MXNet::NDArray::CSR;
use strict;
use warnings;
use AI::MXNet::Base qw(DTYPE_MX_TO_PDL);
our @ISA = ('AI::MXNet::NDArray::Sparse');

sub indptr  { $_[0]->_aux(0) }
sub indices { $_[0]->_aux(1) }

sub aspdl
{
    my $self = shift;
    my ($rows, $cols) = @{ $self->shape };
    my $type = PDL::Type->new(DTYPE_MX_TO_PDL->{ AI::MXNet::NDArray::_dtype_code($self->dtype) });
    my $dense = PDL->new_from_specification($type, $cols, $rows);
    $dense .= 0;
    my @ptr = $self->indptr->aspdl->list;
    my @col = $self->indices->aspdl->list;
    my @val = $self->data->aspdl->list;
    for my $r (0 .. $rows - 1) {
        PDL::Core::set($dense, $col[$_], $r, $val[$_]) for $ptr[$r] .. $ptr[$r + 1] - 1;
    }
    return $dense;
}

sub _assign_dense
{
    my ($self, $values) = @_;
    my ($cols, $rows) = $values->dims;
    my (@data, @indices, @indptr);
    push @indptr, 0;
    for my $r (0 .. $rows - 1) {
        for my $c (0 .. $cols - 1) {
            my $v = $values->at($c, $r);
            next unless $v;
            push @data, $v;
            push @indices, $c;
        }
        push @indptr, scalar(@indices);
    }
    $self->_set_blob(-1, PDL::Core::pdl($values->type, \@data), $self->dtype);
    $self->_set_blob(0, AI::MXNet::NDArray::Sparse::_ids(\@indptr), 'int64');
    $self->_set_blob(1, AI::MXNet::NDArray::Sparse::_ids(\@indices), 'int64');
}

1;

__END__

=head1 NAME

AI::MXNet::NDArray::Sparse - row_sparse and csr arrays on the mxkv library (mx->nd->sparse)

=head1 SYNOPSIS

    use AI::MXNet qw(mx);

    my $rsp = mx->nd->ones([4, 2])->tostype('row_sparse');       # every row stored
    my $z   = mx->nd->zeros([4, 2], stype => 'row_sparse');      # no row stored
    my $r   = mx->nd->sparse->row_sparse_array([[[1, 2]], [3]], shape => [4, 2]);
    print $r->indices->aspdl, $r->data->aspdl, $r->aspdl;         # [3], [[1 2]], dense view
    $kv->row_sparse_pull('w', out => $z, row_ids => mx->nd->array([3, 0]));

=head1 DESCRIPTION

C<AI::MXNet::NDArray::RowSparse> (C<indices>, C<data>, C<retain>) and C<AI::MXNet::NDArray::CSR>
(C<indptr>, C<indices>, C<data>) are NDArrays whose C<aspdl>, C<tostype>, C<copyto>, arithmetic
and C<.=> work on their dense values; C<mx-E<gt>nd-E<gt>sparse> makes them (C<zeros>, C<empty>,
C<array>, C<row_sparse_array>, C<csr_matrix>). Their format is checked by the library
(C<check_format>, and every store call that takes one).

=cut
