package AI::MXNet::NDArray;
use strict;
use warnings;
use Carp qw(confess cluck);
use Scalar::Util qw(blessed looks_like_number);
use POSIX ();
use PDL::Lite;
use AI::MXNetCAPI;
use AI::MXNet::Base qw(check_call product DTYPE_STR_TO_MX DTYPE_MX_TO_STR DTYPE_MX_TO_PDL
                      STORAGE_TYPE_ID_TO_STR);
use AI::MXNet::Context;
use AI::MXNet::NDArray::Math;

# AI::MXNet's overloads; the element-wise functions behind % ** == ... sqrt abs come from
# AI::MXNet::NDArray::Math.
use overload
    '""'    => \&stringify,
    'bool'  => sub { 1 },
    '+'     => \&add,
    '+='    => \&iadd,
    '-'     => \&subtract,
    '-='    => \&isubtract,
    '*'     => \&multiply,
    '*='    => \&imultiply,
    '/'     => \&divide,
    '/='    => \&idivide,
    '%'     => \&modulo,
    '%='    => \&imodulo,
    '**'    => \&power,
    '=='    => \&equal,
    '!='    => \&not_equal,
    '>'     => \&greater,
    '>='    => \&greater_equal,
    '<'     => \&lesser,
    '<='    => \&lesser_equal,
    'neg'   => \&negative,
    'sqrt'  => sub { $_[0]->sqrt },
    'abs'   => sub { $_[0]->abs },
    'sin'   => sub { $_[0]->sin },
    'cos'   => sub { $_[0]->cos },
    'log'   => sub { $_[0]->log },
    'exp'   => sub { $_[0]->exp },
    'atan2' => \&atan2,
    '.='    => \&set,
    # `$b = $a; $a += 1` changes the one array both name, as in MXNet: that is what lets an
    # updater's `$stored += ...` reach the store.
    '='    => sub { $_[0] };

sub new
{
    my ($class, %args) = @_;
    confess('an NDArray needs a handle') unless blessed($args{handle}) and $args{handle}->isa('NDArrayHandle');
    return bless { handle => $args{handle}, writable => $args{writable} // 1 }, $class;
}

# Wraps a handle received from the library (updaters, load) in the class of its storage type;
# the handle object frees it.
sub _ndarray_cls
{
    my ($class, $handle, $writable) = @_;
    my $stype = STORAGE_TYPE_ID_TO_STR->{ scalar(check_call(AI::MXNetCAPI::NDArrayGetStorageType($handle))) };
    $class = AI::MXNet::NDArray::Sparse::_class_of_stype($stype) if $stype ne 'default';
    return bless { handle => $handle, writable => $writable // 1 }, $class;
}

# mx->nd->sparse: row_sparse and csr arrays.
sub sparse { 'AI::MXNet::NDArray::Sparse' }

# A copy in storage type 'default', 'row_sparse' (the non-zero rows) or 'csr' (the non-zero values).
sub tostype
{
    my ($self, $stype) = @_;
    return $self->copy if $stype eq 'default';
    return AI::MXNet::NDArray::Sparse->array($self, stype => $stype, ctx => $self->context, dtype => $self->dtype);
}

sub handle   { $_[0]{handle} }
sub writable { my $self = shift; $self->{writable} = shift if @_; $self->{writable} }

# ---- properties ---------------------------------------------------------------------------------

sub shape { scalar(check_call(AI::MXNetCAPI::NDArrayGetShapeEx64($_[0]{handle}))) }
sub ndim  { scalar(@{ $_[0]->shape }) }
sub size  { my $self = shift; product(@{ shift // $self->shape }) }
sub len   { $_[0]->shape->[0] }

sub dtype
{
    my $code = check_call(AI::MXNetCAPI::NDArrayGetDType($_[0]{handle}));
    return DTYPE_MX_TO_STR->{$code} // confess("unknown dtype code $code");
}

sub stype
{
    my $code = check_call(AI::MXNetCAPI::NDArrayGetStorageType($_[0]{handle}));
    return STORAGE_TYPE_ID_TO_STR->{$code} // "storage type $code";
}

sub context
{
    my ($dev_type, $dev_id) = check_call(AI::MXNetCAPI::NDArrayGetContext($_[0]{handle}));
    return AI::MXNet::Context->new(
        device_type => AI::MXNet::Context::devtype2str->{$dev_type} // confess("unknown dev_type $dev_type"),
        device_id   => $dev_id,
    );
}

sub stringify
{
    my $self = shift;
    return sprintf('<%s %s @%s>', ref($self), join('x', @{ $self->shape }), $self->context);
}

sub wait_to_read { check_call(AI::MXNetCAPI::NDArrayWaitToRead($_[0]{handle})); $_[0] }
sub waitall      { check_call(AI::MXNetCAPI::NDArrayWaitAll()) }

# ---- creation -----------------------------------------------------------------------------------

sub _dtype_code
{
    my $dtype = shift // 'float32';
    my $code = DTYPE_STR_TO_MX->{$dtype};
    confess("unknown dtype '$dtype' (known: @{[ sort keys %{ DTYPE_STR_TO_MX() } ]})") unless defined $code;
    return $code;
}

sub _check_shape
{
    my $shape = shift;
    $shape = [$shape] if defined $shape and not ref $shape;
    confess('shape must be an array ref of non-negative integers')
        unless ref $shape eq 'ARRAY' and not grep { not defined or not /^\d+$/ } @$shape;
    return [@$shape];
}

# (ctx => ..., dtype => ..., stype => 'default', name => ...; out => where $with_out), also
# accepting a context as the first argument (as the KVStore POD examples write
# `mx->nd->ones($shape, $ctx)`). Gives (ctx, dtype, out, stype).
sub _creation_args
{
    my ($what, $with_out, @args) = @_;
    unshift @args, 'ctx' if @args % 2 and blessed($args[0]) and $args[0]->isa('AI::MXNet::Context');
    confess("$what: arguments after the shape must be name => value pairs") if @args % 2;
    my %args = @args;
    my @unknown = grep { not /^(?:ctx|dtype|stype|name)$/ and not ($with_out and $_ eq 'out') } keys %args;
    confess("$what: unknown argument(s): @{[ sort @unknown ]}") if @unknown;
    my $ctx = $args{ctx} // AI::MXNet::Context->current_ctx;
    confess('ctx must be an AI::MXNet::Context') unless blessed($ctx) and $ctx->isa('AI::MXNet::Context');
    confess("$what: out must be an AI::MXNet::NDArray")
        if defined $args{out} and not (blessed($args{out}) and $args{out}->isa(__PACKAGE__));
    return ($ctx, $args{dtype} // 'float32', $args{out}, $args{stype} // 'default');
}

sub _new_alloc_handle
{
    my ($shape, $ctx, $delay_alloc, $dtype_code) = @_;
    if (grep { $_ > 0xFFFFFFFF } @$shape) {
        return scalar(check_call(AI::MXNetCAPI::NDArrayCreateEx64(
            $shape, scalar(@$shape), $ctx->device_type_id, $ctx->device_id, $delay_alloc, $dtype_code)));
    }
    return scalar(check_call(AI::MXNetCAPI::NDArrayCreateEx(
        $shape, scalar(@$shape), $ctx->device_type_id, $ctx->device_id, $delay_alloc, $dtype_code)));
}

sub empty
{
    my ($class, $shape, @args) = @_;
    my ($ctx, $dtype, undef, $stype) = _creation_args('empty', 0, @args);
    return AI::MXNet::NDArray::Sparse->zeros($stype, $shape, ctx => $ctx, dtype => $dtype) if $stype ne 'default';
    return __PACKAGE__->new(handle => _new_alloc_handle(_check_shape($shape), $ctx, 0, _dtype_code($dtype)));
}

# full($shape, $value, ...): a new array, or $value written into out => $array (of that shape).
sub full
{
    my ($class, $shape, $value, @args) = @_;
    confess('full: the value must be a number') unless looks_like_number($value);
    my ($ctx, $dtype, $out, $stype) = _creation_args('full', 1, @args);
    if ($stype ne 'default') {
        my $arr = AI::MXNet::NDArray::Sparse->zeros($stype, $shape, ctx => $ctx, dtype => $dtype);
        $arr .= $value if $value;
        return $arr;
    }
    $shape = _check_shape($shape);
    confess("full: out has shape [@{ $out->shape }], not [@$shape]") if $out and "@{ $out->shape }" ne "@$shape";
    confess('trying to modify a readonly NDArray') if $out and not $out->{writable};
    my $arr = $out // __PACKAGE__->new(handle => _new_alloc_handle($shape, $ctx, 0, _dtype_code($dtype)));
    AI::MXNet::NDArray::Kernel::fill($arr->{handle}, $value);
    return $arr;
}

sub zeros { my ($class, $shape, @args) = @_; $class->full($shape, 0, @args) }
sub ones  { my ($class, $shape, @args) = @_; $class->full($shape, 1, @args) }

# arange(start => 0, stop => .., step => 1, repeat => 1, ctx => .., dtype => 'float32'), or
# arange($stop) / arange($start, $stop, ...): evenly spaced values in [start, stop), each
# repeated `repeat` times.
sub arange
{
    my ($class, @args) = @_;
    my @positional;
    push @positional, shift @args while @args and looks_like_number($args[0]) and @positional < 3;
    confess('arange: arguments must be numbers, then name => value pairs') if @args % 2;
    my %opt = (start => 0, stop => undef, step => 1, repeat => 1, infer_range => 0, @args);
    if (@positional == 1) { $opt{stop} = $positional[0] }
    elsif (@positional) { @opt{qw(start stop step)} = (@positional, $opt{step})[0 .. 2] }
    my %create = map { exists $opt{$_} ? ($_ => delete $opt{$_}) : () } qw(ctx dtype name);
    my ($start, $stop, $step, $repeat) = delete @opt{qw(start stop step repeat)};
    delete $opt{infer_range};
    confess("arange: unknown argument(s): @{[ sort keys %opt ]}") if %opt;
    ($start, $stop) = (0, $start) unless defined $stop;
    confess('arange: step must not be 0') if $step == 0;
    confess('arange: repeat must be a positive integer') unless $repeat =~ /^\d+$/ and $repeat > 0;
    my $count = POSIX::ceil(($stop - $start) / $step);
    $count = 0 if $count < 0;
    my @values = map { my $v = $start + $_ * $step; ($v) x $repeat } 0 .. $count - 1;
    return $class->empty([0], %create) unless @values;
    return $class->array(\@values, %create);
}

sub _pdl_type { PDL::Type->new(DTYPE_MX_TO_PDL->{ _dtype_code($_[0]) }) }

# array($source, ctx => ..., dtype => ...): a copy of an NDArray, a PDL, a (nested) array ref
# or a number; the dtype is float32 unless given.
sub array
{
    my ($class, $source, @args) = @_;
    my ($ctx, $dtype) = _creation_args('array', 0, @args);
    if (blessed($source) and $source->isa(__PACKAGE__)) {
        my $arr = $class->empty($source->shape, ctx => $ctx, dtype => $dtype);
        $source->copyto($arr);
        return $arr;
    }
    my $pdl = blessed($source) && $source->isa('PDL')
        ? $source
        : eval { PDL::Core::pdl(_pdl_type($dtype), $source) } // confess("array: cannot make an array of $source: $@");
    my $shape = [reverse $pdl->dims];
    $shape = [1] unless @$shape;
    my $arr = $class->empty($shape, ctx => $ctx, dtype => $dtype);
    $arr->_sync_copyfrom($pdl);
    return $arr;
}

sub _sync_copyfrom
{
    my ($self, $source) = @_;
    my $code = _dtype_code($self->dtype);
    my $type = PDL::Type->new(DTYPE_MX_TO_PDL->{$code});
    my $pdl = blessed($source) && $source->isa('PDL') ? $source : PDL::Core::pdl($type, $source);
    my $shape = $self->shape;
    my $size = product(@$shape);
    if ($pdl->nelem == 1 and $size != 1) {
        AI::MXNet::NDArray::Kernel::fill($self->{handle}, $pdl->sclr);
        return $self;
    }
    my $got = join(',', reverse $pdl->dims) || '1';
    confess("Shape inconsistent: expected ${\ join(',', @$shape) } vs got $got")
        unless $got eq join(',', @$shape);
    $pdl = ($pdl != 0) if $code == 7;    # bool holds 0 and 1
    $pdl = $pdl->convert($type) if $pdl->get_datatype != $type->enum;
    my $data = $pdl->get_dataref;
    if ($code == 2 or $code == 12) {    # float16, bfloat16: from PDL's float
        AI::MXNet::NDArray::Kernel::write($self->{handle}, 0, $$data);
    }
    else {
        check_call(AI::MXNetCAPI::NDArraySyncCopyFromCPU($self->{handle}, $$data, $size));
    }
    return $self;
}

# ---- conversion to Perl ---------------------------------------------------------------------------

sub aspdl
{
    my $self = shift;
    my $code = _dtype_code($self->dtype);
    my $shape = $self->shape;
    my $pdl = PDL->new_from_specification(PDL::Type->new(DTYPE_MX_TO_PDL->{$code}), reverse @$shape);
    my $data = $pdl->get_dataref;
    if ($code == 2 or $code == 12) {
        AI::MXNet::NDArray::Kernel::read($self->{handle}, 0, $$data);
    }
    else {
        check_call(AI::MXNetCAPI::NDArraySyncCopyToCPU($self->{handle}, $$data, product(@$shape)));
    }
    $pdl->upd_data;
    return $pdl;
}

sub asarray  { $_[0]->aspdl->unpdl }

sub asscalar
{
    my $self = shift;
    confess('ndarray size must be 1') unless $self->size == 1;
    return $self->aspdl->sclr;
}

# ---- copies, views ----------------------------------------------------------------------------

sub copyto
{
    my ($self, $other) = @_;
    if (blessed($other) and $other->isa('AI::MXNet::Context')) {
        my $copy = __PACKAGE__->empty($self->shape, ctx => $other, dtype => $self->dtype);
        check_call(AI::MXNetCAPI::NDArraySyncCopyFromNDArray($copy->{handle}, $self->{handle}, -1));
        return $copy;
    }
    confess('copyto: the target must be an NDArray or a Context')
        unless blessed($other) and $other->isa(__PACKAGE__);
    return $other->set($self) if $other->isa('AI::MXNet::NDArray::Sparse');
    cluck('copy an array to itself, is it intended?')
        if AI::MXNetCAPI::_address($other->{handle}) == AI::MXNetCAPI::_address($self->{handle});
    check_call(AI::MXNetCAPI::NDArraySyncCopyFromNDArray($other->{handle}, $self->{handle}, -1));
    return $other;
}

sub copy          { $_[0]->copyto($_[0]->context) }

sub random { require AI::MXNet::Random; 'AI::MXNet::Random' }
sub as_in_context { $_[0]->context == $_[1] ? $_[0] : $_[0]->copyto($_[1]) }

sub astype
{
    my ($self, $dtype) = @_;
    my $res = __PACKAGE__->empty($self->shape, ctx => $self->context, dtype => $dtype);
    $self->copyto($res);
    return $res;
}

# A view with the new shape (one dimension may be -1, and 0 keeps that dimension). at, slice and
# reshape are lvalue methods, as in AI::MXNet: `$x->slice(0) .= 1`, `$x->at(1) += $y`.
sub reshape : lvalue
{
    my ($self, $shape) = @_;
    $shape = [$shape] unless ref $shape;
    confess('reshape: the shape must be an array ref of integers')
        if grep { not defined or not /^-?\d+$/ } @$shape;
    my $handle = check_call(AI::MXNetCAPI::NDArrayReshape64($self->{handle}, scalar(@$shape), $shape, 0));
    my $view = __PACKAGE__->new(handle => $handle, writable => $self->{writable});
    $view;
}

# MXNet's slice: an index, 'X' (everything) or [begin, end] with an INCLUSIVE end, negative
# indices counting from the end; a view that shares memory. Only the first dimension can be
# sliced ('X' for the others).
sub slice : lvalue
{
    my ($self, @slices) = @_;
    confess('No slices supplied') unless @slices;
    confess('NDArray only supports ->slice on dimension 0; the other dimensions must be \'X\'')
        if grep { ref $_ or $_ ne 'X' } @slices[1 .. $#slices];
    my $dim = $self->shape->[0];
    my $s = $slices[0];
    my ($begin, $end) = ref $s eq 'ARRAY' ? (@$s == 1 ? ($s->[0], $s->[0]) : @$s[0, 1])
                      : $s eq 'X'         ? (0, $dim - 1)
                      :                     ($s, $s);
    for ($begin, $end) {
        confess("slice index $_ is not an integer") unless defined and /^-?\d+$/;
        confess("slice index $_ out of range for dimension 0 of size $dim") if $_ >= $dim or $_ < -$dim;
        $_ += $dim if $_ < 0;
    }
    confess("slice begin $begin > end $end") if $begin > $end;
    my $view = $self->_slice($begin, $end + 1);
    $view;
}

sub _slice
{
    my ($self, $start, $stop) = @_;
    my $handle = check_call(AI::MXNetCAPI::NDArraySlice64($self->{handle}, $start, $stop));
    return __PACKAGE__->new(handle => $handle, writable => $self->{writable});
}

sub at : lvalue
{
    my ($self, $idx) = @_;
    my $dim = $self->shape->[0];
    confess("index $idx out of range for dimension 0 of size $dim") if $idx >= $dim or $idx < -$dim;
    my $view = $self->_at($idx < 0 ? $idx + $dim : $idx);
    $view;
}

sub _at
{
    my ($self, $idx) = @_;
    my $handle = check_call(AI::MXNetCAPI::NDArrayAt64($self->{handle}, $idx));
    return __PACKAGE__->new(handle => $handle, writable => $self->{writable});
}

# `$arr .= $value`: a number, an NDArray, a PDL or an array ref.
sub set
{
    my ($self, $value) = @_;
    confess('set value must be defined') unless defined $value;
    confess('Array is not writable') unless $self->{writable};
    if (not ref $value) {
        confess("set: '$value' is not a number") unless looks_like_number($value);
        AI::MXNet::NDArray::Kernel::fill($self->{handle}, $value);
    }
    elsif (blessed($value) and $value->isa(__PACKAGE__)) {
        $value->copyto($self);
    }
    else {
        $self->_sync_copyfrom($value);
    }
    return $self;
}

# ---- arithmetic -------------------------------------------------------------------------------
# Element-wise loops run in C over the arrays' memory (AI::MXNet::NDArray::Kernel); arrays of
# different shapes are broadcast as numpy does, through PDL.

sub _like { bless { handle => AI::MXNet::NDArray::Kernel::empty_like($_[0]{handle}), writable => 1 }, __PACKAGE__ }

sub _broadcast_shape
{
    my ($a, $b) = @_;
    my $n = @$a > @$b ? @$a : @$b;
    my @a = ((1) x ($n - @$a), @$a);
    my @b = ((1) x ($n - @$b), @$b);
    my @out;
    for my $i (0 .. $n - 1) {
        return undef unless $a[$i] == $b[$i] or $a[$i] == 1 or $b[$i] == 1;
        push @out, $a[$i] == 1 ? $b[$i] : $a[$i];
    }
    return \@out;
}

sub _expand
{
    my ($self, $shape) = @_;
    my $pdl = $self->aspdl;
    my $full = PDL->new_from_specification($pdl->type, reverse @$shape);
    $full .= $pdl;
    return __PACKAGE__->array($full, ctx => $self->context, dtype => $self->dtype);
}

# $out = $lhs op $rhs (or $rhs op $lhs when $swapped), into $out when given.
sub _apply
{
    my ($op, $rop, $lhs, $rhs, $swapped, $out) = @_;
    if (not ref $rhs) {
        confess("'$rhs' is not a number") unless defined $rhs and looks_like_number($rhs);
        $out //= $lhs->_like;
        AI::MXNet::NDArray::Kernel::scalar($swapped ? $rop : $op, $out->{handle}, $lhs->{handle}, $rhs);
        return $out;
    }
    confess('an NDArray can only be combined with an NDArray or a number')
        unless blessed($rhs) and $rhs->isa(__PACKAGE__);
    $rhs = $rhs->tostype('default') if $rhs->isa('AI::MXNet::NDArray::Sparse');
    ($lhs, $rhs) = ($rhs, $lhs) if $swapped;
    # Arrays of one shape go straight to the C loop; the others are broadcast first.
    my $result = $out // $lhs->_like;
    my $done = AI::MXNet::NDArray::Kernel::binary($op, $result->{handle}, $lhs->{handle}, $rhs->{handle});
    return $result if $done > 0;
    confess("operands have different dtypes (${\ $lhs->dtype } and ${\ $rhs->dtype }); use astype") if $done < 0;
    my ($ls, $rs) = ($lhs->shape, $rhs->shape);
    my $shape = _broadcast_shape($ls, $rs)
        // confess("operands could not be broadcast together with shapes [@$ls] [@$rs]");
    confess("the result of shape [@$shape] does not fit the array of shape [@{ $out->shape }]")
        if $out and "@{ $out->shape }" ne "@$shape";
    $lhs = $lhs->_expand($shape) if "@$ls" ne "@$shape";
    $rhs = $rhs->_expand($shape) if "@$rs" ne "@$shape";
    $result = $out // $lhs->_like;
    AI::MXNet::NDArray::Kernel::binary($op, $result->{handle}, $lhs->{handle}, $rhs->{handle});
    return $result;
}

sub _inplace
{
    my ($op, $self, $other) = @_;
    confess('trying to modify a readonly NDArray') unless $self->{writable};
    return _apply($op, $op, $self, $other, 0, $self);
}

sub add       { _apply('add', 'add',  $_[0], $_[1], $_[2]) }
sub subtract  { _apply('sub', 'rsub', $_[0], $_[1], $_[2]) }
sub multiply  { _apply('mul', 'mul',  $_[0], $_[1], $_[2]) }
sub divide    { _apply('div', 'rdiv', $_[0], $_[1], $_[2]) }
sub negative  { _apply('rsub', 'rsub', $_[0], 0) }
sub iadd      { _inplace('add', $_[0], $_[1]) }
sub isubtract { _inplace('sub', $_[0], $_[1]) }
sub imultiply { _inplace('mul', $_[0], $_[1]) }
sub idivide   { _inplace('div', $_[0], $_[1]) }

# maximum($a, $b, out => $o), as a method or mx->nd->maximum(...); either operand may be a
# number (max and min are symmetric).
sub maximum { _extremum('max', AI::MXNet::NDArray::Math::_args(@_)) }
sub minimum { _extremum('min', AI::MXNet::NDArray::Math::_args(@_)) }

sub _extremum
{
    my ($op, $lhs, $rhs, @args) = @_;
    ($lhs, $rhs) = ($rhs, $lhs) unless blessed($lhs);
    confess("${op}imum: one operand must be an AI::MXNet::NDArray")
        unless blessed($lhs) and $lhs->isa(__PACKAGE__);
    my $opt = AI::MXNet::NDArray::Math::_options("${op}imum", [qw(out name)], @args);
    return _apply($op, $op, $lhs, $rhs, 0, $opt->{out});
}

# clip($x, $a_min, $a_max, out => $o) or clip($x, a_min => .., a_max => ..), as a method or
# mx->nd->clip(...).
sub clip
{
    my ($self, @args) = AI::MXNet::NDArray::Math::_args(@_);
    confess('clip: the data must be an AI::MXNet::NDArray') unless blessed($self) and $self->isa(__PACKAGE__);
    my @bounds = @args >= 2 && looks_like_number($args[0]) ? splice(@args, 0, 2) : ();
    my $opt = AI::MXNet::NDArray::Math::_options('clip', [qw(a_min a_max out name)], @args);
    my ($lo, $hi) = @bounds ? @bounds : @$opt{qw(a_min a_max)};
    confess('clip: a_min and a_max must both be numbers')
        unless defined $lo and defined $hi and looks_like_number($lo) and looks_like_number($hi);
    my $out = _apply('max', 'max', $self, $lo, 0, $opt->{out});
    return _apply('min', 'min', $out, $hi, 0, $out);
}

# An operator of AI::MXNet's library that mxkv does not provide (mx->nd->dot, $x->softmax ...)
# dies naming mxkv's scope, instead of Perl's "Can't locate object method".
our $AUTOLOAD;
sub AUTOLOAD
{
    my $name = $AUTOLOAD =~ s/.*:://r;
    confess("mx->nd->$name is not part of mxkv: mxkv provides AI::MXNet's KVStore with NDArrays as "
        . 'data carriers; the operator library is outside its scope');
}

# The handle object frees the array; this keeps object destruction away from AUTOLOAD.
sub DESTROY { }

# ---- files and serialisation ------------------------------------------------------------------

# save($fname, [$a, $b]) or save($fname, { name => $a, ... }) in MXNet's .params format.
sub save
{
    my ($class, $fname, $data) = @_;
    my (@handles, $keys);
    if (blessed($data) and $data->isa(__PACKAGE__)) {
        @handles = ($data->{handle});
    }
    elsif (ref $data eq 'HASH') {
        $keys = [sort keys %$data];
        @handles = map { $data->{$_}{handle} } @$keys;
    }
    elsif (ref $data eq 'ARRAY') {
        @handles = map { $_->{handle} } @$data;
    }
    else {
        confess('save: data must be an NDArray, an array ref or a hash ref of NDArrays');
    }
    check_call(AI::MXNetCAPI::NDArraySave($fname, scalar(@handles), \@handles, $keys));
}

# load($fname): an array ref of NDArrays, or a hash ref when the file names them.
sub load
{
    my ($class, $fname) = @_;
    my ($handles, $names) = check_call(AI::MXNetCAPI::NDArrayLoad($fname));
    my @arrays = map { __PACKAGE__->_ndarray_cls($_) } @$handles;
    return \@arrays unless @$names;
    my %named;
    @named{@$names} = @arrays;
    return \%named;
}

sub STORABLE_freeze
{
    my ($self, $cloning) = @_;
    return scalar(check_call(AI::MXNetCAPI::NDArraySaveRawBytes($self->{handle})));
}

sub STORABLE_thaw
{
    my ($self, $cloning, $bytes) = @_;
    $self->{handle} = check_call(AI::MXNetCAPI::NDArrayLoadFromRawBytes($bytes, length $bytes));
    $self->{writable} = 1;
}

require AI::MXNet::NDArray::Sparse;

1;

__END__

=head1 NAME

AI::MXNet::NDArray - dense arrays on the mxkv library, as AI::MXNet's NDArray

=head1 SYNOPSIS

    use AI::MXNet qw(mx);

    my $a = mx->nd->ones([2, 3], ctx => mx->cpu(1));
    my $b = mx->nd->array([[1, 2, 3], [4, 5, 6]], dtype => 'float64');
    my $c = $a * 2 + 1;                # new arrays
    $a += $c;                          # in place
    $a .= 0;                           # assignment
    print $b->aspdl;                   # a PDL piddle
    my $row = $b->slice(1);            # a view of row 1; slice([0, 1]) is rows 0..1
    my $flat = $b->reshape([-1]);      # a view of shape [6]

=head1 DESCRIPTION

The part of MXNet's NDArray that KVStore users need: C<zeros>, C<ones>, C<empty>, C<full>,
C<array> (from an array ref, a PDL or another NDArray), C<arange>, each with C<< ctx => >> and
C<< dtype => >> (C<zeros>, C<ones>, C<full> also with C<< out => >>); C<shape>, C<size>, C<ndim>,
C<dtype>, C<context>, C<stype>; C<aspdl>, C<asarray>, C<asscalar>; C<copyto>, C<copy>,
C<astype>, C<as_in_context>, C<tostype('default')>; C<reshape>, C<slice>, C<at> (lvalue views
sharing memory: C<< $x->at(1) += $y >>); C<+ - * / % **> with arrays and numbers, unary minus,
C<+= -= *= /= %=> (in place), C<== != E<lt> E<lt>= E<gt> E<gt>=>, C<.=>, C<sqrt abs exp log sin
cos atan2>; C<maximum>, C<minimum>, C<clip> and the functions of L<AI::MXNet::NDArray::Math>,
each also as C<< mx->nd->NAME($x, ...) >> and with C<< out => >>; C<save>, C<load>; Storable
serialisation. C<< mx->nd->random >> is L<AI::MXNet::Random>. An operator of AI::MXNet's library
that mxkv lacks (C<< mx->nd->dot >>) dies naming mxkv's scope.

C<+ - * />, C<maximum>, C<minimum> and C<clip> run in C over the arrays' memory; both operands
must have the same dtype. Arrays of different shapes are broadcast as in numpy. Integer division
by zero gives 0.

=cut
