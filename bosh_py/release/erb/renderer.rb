# frozen_string_literal: true

# Renders bosh-py job templates written in ERB, offering bosh-template's helpers
# (p, if_p, spec, link, if_link, properties, name, index) so templates of public BOSH
# releases render unchanged.
#
# Started by bosh_py/release/erb/ruby_process.py, already isolated (unprivileged user,
# no network, scrubbed environment). Arguments: MEMORY_BYTES CPU_SECONDS. It first caps
# itself (address space, CPU, no new processes, no file writes), then reads one JSON
# request per line on stdin and answers one JSON line on stdout:
#
#   in:  {"source", "template", "properties", "spec", "links"}
#   out: {"text"} | {"error", "line"} | {"limit": "time"|"memory", "line"}
#
# The director stops a template at its time limit by sending SIGALRM, which raises
# TimeLimit inside the template, so the answer can name the line.

require "erb"
require "json"
require "ostruct"
require "stringio"

module BoshPyErb
  # Raised into a template by SIGALRM; an Exception, so a template's `rescue => e` does
  # not swallow it.
  class TimeLimit < Exception; end # rubocop:disable Lint/InheritException

  class TemplateProblem < StandardError; end

  @rendering = false

  class << self
    attr_accessor :rendering
  end

  # A dotted name ("a.b.c") looked up in a nested hash; nil when absent.
  def self.lookup(tree, dotted)
    dotted.to_s.split(".").reduce(tree) do |node, key|
      return nil unless node.is_a?(Hash)

      node[key]
    end
  end

  # Hashes become OpenStructs all the way down, as bosh-template's `spec` and `properties`.
  def self.openstruct(value)
    case value
    when Hash then OpenStruct.new(value.to_h { |k, v| [k, openstruct(v)] })
    when Array then value.map { |v| openstruct(v) }
    else value
    end
  end

  # What `if_p` and `if_link` return: `.else { }` runs only when the first block did not.
  class ActiveElseBlock
    def else
      yield
    end
  end

  class InactiveElseBlock
    def else; end
  end

  # p / if_p over @raw_properties, shared by the template, a link and a link's instance.
  module PropertyHelpers
    def p(*args)
      names = Array(args[0])
      names.each do |name|
        value = BoshPyErb.lookup(@raw_properties, name)
        return value unless value.nil?
      end
      return args[1] if args.length == 2

      raise TemplateProblem, property_missing(names)
    end

    def if_p(*names)
      values = names.map do |name|
        value = BoshPyErb.lookup(@raw_properties, name)
        return ActiveElseBlock.new if value.nil?

        value
      end
      yield(*values)
      InactiveElseBlock.new
    end

    private

    def property_missing(names)
      "Can't find property '#{names.inspect}'"
    end
  end

  # One instance of a link's provider.
  class LinkInstance
    include PropertyHelpers
    attr_reader :name, :index, :id, :az, :address, :properties, :bootstrap

    def initialize(data, properties)
      @name = data["name"]
      @index = data["index"]
      @id = data["id"]
      @az = data["az"]
      @address = data["address"] || data["ip"]
      @bootstrap = data["bootstrap"] ? true : false
      @raw_properties = properties
      @properties = properties
    end

    def inspect
      "#<link instance #{@name}/#{@id}>"
    end
  end

  # What `link("name")` returns.
  class Link
    include PropertyHelpers
    attr_reader :name, :instances, :properties, :deployment_name

    def initialize(name, data)
      @name = name
      @raw_properties = data["properties"] || {}
      @properties = @raw_properties
      @deployment_name = data["deployment"]
      @instances = (data["instances"] || []).map { |i| LinkInstance.new(i, @raw_properties) }
      @address = data["address"]
    end

    # bosh-template answers a DNS name here; bosh-py gives the provider's address.
    def address(_criteria = {})
      @address || instances.first&.address
    end

    def inspect
      "#<link #{@name}>"
    end

    private

    def property_missing(names)
      "Can't find property '#{names.inspect}' in link '#{@name}'"
    end
  end

  # The object a template runs in (bosh-template's EvaluationContext).
  class Context
    include PropertyHelpers
    attr_reader :name, :index, :spec, :properties, :raw_properties

    def initialize(request)
      @raw_properties = request["properties"] || {}
      @properties = BoshPyErb.openstruct(@raw_properties)
      @spec = BoshPyErb.openstruct(request["spec"] || {})
      @name = request.dig("spec", "name")
      @index = request.dig("spec", "index")
      @links = request["links"] || {}
    end

    def link(name)
      data = @links[name]
      raise TemplateProblem, "Can't find link '#{name}'" if data.nil?

      Link.new(name, data)
    end

    def if_link(name)
      data = @links[name]
      return ActiveElseBlock.new if data.nil?

      yield Link.new(name, data)
      InactiveElseBlock.new
    end

    def get_binding # rubocop:disable Naming/AccessorMethodName
      binding
    end

    # Never show properties in an error message.
    def inspect
      "#<template>"
    end
    alias to_s inspect
  end

  def self.line_of(error, file)
    location = (error.backtrace_locations || []).find { |l| l.path == file }
    return location.lineno if location

    (error.backtrace || []).each do |entry|
      return Regexp.last_match(1).to_i if entry.start_with?("#{file}:") && entry[file.length..] =~ /\A:(\d+)/
    end
    nil
  end

  # The error's message without the receiver's inspect (which could show property values).
  def self.describe(error, context)
    if error.is_a?(NoMethodError)
      receiver = begin
        error.receiver
      rescue ArgumentError
        nil
      end
      whom = if receiver.equal?(context) then "the template"
             elsif receiver.nil? then "nil"
             else "an instance of #{receiver.class}"
             end
      return "undefined method '#{error.name}' for #{whom}"
    end
    if error.is_a?(NameError) && error.message.start_with?("undefined local variable or method")
      return "undefined local variable or method '#{error.name}'"
    end

    (error.message.lines.first || error.class.name).strip.tr("`", "'")
  end

  def self.render(request)
    file = "(erb) #{request['template']}"
    context = Context.new(request)
    erb = ERB.new(request["source"].to_s, trim_mode: "-")
    erb.filename = file
    self.rendering = true
    text = begin
      erb.result(context.get_binding)
    ensure
      self.rendering = false
    end
    raise TemplateProblem, "the rendered text is not valid UTF-8" unless text.dup.force_encoding("UTF-8").valid_encoding?

    { "text" => text.dup.force_encoding("UTF-8") }
  rescue TimeLimit => e
    { "limit" => "time", "line" => line_of(e, file) }
  rescue NoMemoryError => e
    { "limit" => "memory", "line" => line_of(e, file) }
  rescue SyntaxError => e
    found = e.message.lines.map { |l| l.match(/\A#{Regexp.escape(file)}:(\d+): (.*)/) }.compact.first
    return { "error" => found[2].strip.tr("`", "'"), "line" => found[1].to_i } if found

    { "error" => describe(e, context), "line" => line_of(e, file) }
  rescue SystemExit
    { "error" => "the template called exit", "line" => nil }
  rescue Exception => e # rubocop:disable Lint/RescueException
    { "error" => describe(e, context), "line" => line_of(e, file) }
  end

  def self.limit_self(memory_bytes, cpu_seconds)
    in_use = File.read("/proc/self/status")[/^VmSize:\s+(\d+)/, 1].to_i * 1024
    Process.setrlimit(:AS, [in_use + memory_bytes, Process.getrlimit(:AS)[1]].min)
    Process.setrlimit(:CPU, *[cpu_seconds, cpu_seconds + 5].map { |s| [s, Process.getrlimit(:CPU)[1]].min })
    Process.setrlimit(:NPROC, 0) # no fork, no threads
    Process.setrlimit(:FSIZE, 0) # no file grows
    Process.setrlimit(:CORE, 0)
  end

  def self.serve(input, output, memory_bytes, cpu_seconds)
    trap("ALRM") { raise TimeLimit if BoshPyErb.rendering }
    trap("XFSZ", "IGNORE") # a write past FSIZE fails with EFBIG instead of killing us
    limit_self(memory_bytes, cpu_seconds)
    while (line = input.gets)
      $stdout = StringIO.new # what a template prints goes nowhere
      $stderr = StringIO.new
      reply = begin
        render(JSON.parse(line))
      rescue TimeLimit
        { "limit" => "time", "line" => nil }
      end
      $stdout = STDOUT
      $stderr = STDERR
      output.write("#{JSON.generate(reply)}\n")
      output.flush
    end
  end
end

BoshPyErb.serve($stdin, $stdout, Integer(ARGV.fetch(0)), Integer(ARGV.fetch(1))) if $PROGRAM_NAME == "-e"
