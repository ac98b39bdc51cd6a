# String keys, .params names and file names are byte strings, as MXNet's C strings are: a key
# that is not UTF-8 ("w\xff") works, comes back to a string-key updater as the same bytes, and
# messages show it escaped.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use MxkvTest;
use AI::MXNet qw(mx);
use AI::MXNet::Base qw(check_call);

my $shape = [2, 3];
my $key = "w\xff";

subtest 'a key that is not UTF-8' => sub {
    my $kv = mx->kv->create('local');
    $kv->init($key, mx->nd->ones($shape));
    $kv->push($key, mx->nd->ones($shape) * 4);
    my $out = mx->nd->zeros($shape);
    $kv->pull($key, out => $out);
    all_equal($out, 4, 'init, push and pull');
    dies_like(sub { $kv->pull("w\xfe", out => $out) }, qr/key w\\xfe doesn't exist/,
        'an unknown key is shown escaped');
    dies_like(sub { $kv->init($key, mx->nd->ones($shape)) }, qr/duplicate init of key w\\xff/,
        'so is a duplicate');
};

subtest 'a string-key updater gets the same bytes back' => sub {
    my $kv = mx->kv->create('local');
    $kv->init($key, mx->nd->ones($shape));
    my @seen;
    check_call(AI::MXNetCAPI::KVStoreSetUpdaterEx($kv->handle, undef, sub {
        my ($name, $recv, $local) = @_;
        push @seen, $name;
    }));
    $kv->push($key, mx->nd->ones($shape));
    is_deeply(\@seen, [$key], 'the key as it was given');
    ok(!utf8::is_utf8($seen[0]), 'as a byte string');
};

subtest 'names and file names in .params files' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my $file = "$dir/arrays-\xfe.params";
    mx->nd->save($file, { $key => mx->nd->ones($shape) * 2, "b" => mx->nd->ones($shape) });
    ok(-e $file, 'the file has the name given, byte for byte');
    my $loaded = mx->nd->load($file);
    is_deeply([sort keys %$loaded], [sort ("b", $key)], 'the names load back as the same bytes');
    all_equal($loaded->{$key}, 2, 'with their arrays');
    dies_like(sub { mx->nd->load("$dir/gone-\xfe.params") }, qr/gone-\\xfe\.params/,
        'a missing file is named escaped');
};

done_testing;
